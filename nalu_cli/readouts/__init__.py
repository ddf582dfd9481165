"""Readouts: the formula a trained model encodes, for feed-forward and sequence models."""
