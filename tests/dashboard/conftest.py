"""Fixtures of the dashboard tests live in the test modules; tests/support is importable."""
