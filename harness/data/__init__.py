"""Datasets: named preprocessors that turn a dataset file into model-ready arrays and labels."""
