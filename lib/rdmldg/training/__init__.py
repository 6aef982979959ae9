"""Training: examples and collation, the Eq. 1 loss, Trainer glue, SARR rounds."""
