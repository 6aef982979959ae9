"""Analyses: chain style, in-context learning, linear probes, paired statistics, Challenge 2, MMD, the
instrument checks and the typed summary the front page reads."""
