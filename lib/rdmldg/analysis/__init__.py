"""Analyses: chain style, in-context learning, linear probes, token probabilities, MMD."""
