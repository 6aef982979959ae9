"""Training: pathway batches, the Eq. 1 loss, Trainer glue, SARR rounds, multi-process launch."""
