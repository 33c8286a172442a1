"""mlenv: declarative, lock-file based environments and runs for ML benchmarks."""

__version__ = "0.1.0"
