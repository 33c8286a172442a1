"""The run config: what one harness process measures, as written by `mlenv run`."""

from .load import load_config
from .model import BackendSpec, DataSpec, ModelSpec, RunConfig, TensorSpec

__all__ = ["BackendSpec", "DataSpec", "ModelSpec", "RunConfig", "TensorSpec", "load_config"]
