"""The run config: what one harness process measures, as written by `mlenv run`."""

from .load import load_config
from .model import BackendSpec, ComplianceSpec, DataSpec, ModelSpec, RunConfig, TensorSpec

__all__ = [
    "BackendSpec",
    "ComplianceSpec",
    "DataSpec",
    "ModelSpec",
    "RunConfig",
    "TensorSpec",
    "load_config",
]
