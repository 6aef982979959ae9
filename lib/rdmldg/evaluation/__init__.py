"""Evaluation: answer scoring (log-likelihood, generation + parsing), accuracies, records."""
