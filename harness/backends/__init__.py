"""Inference backends: one module per engine, imported only when a run names it."""
