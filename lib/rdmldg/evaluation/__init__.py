"""Evaluation: every run on every split (accuracies per readout), DomainBed records, stored results."""
