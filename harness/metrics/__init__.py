"""Accuracy metrics: how a sample's outputs become response bytes, and how to score them."""
