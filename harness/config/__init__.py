"""The run config: what one harness process measures, as written by `mlenv run`."""

from .load import load_config
from .model import (
    BackendSpec,
    Calibrate,
    ComplianceSpec,
    DataSpec,
    ModelSpec,
    RunConfig,
    TensorSpec,
)

__all__ = [
    "BackendSpec",
    "Calibrate",
    "ComplianceSpec",
    "DataSpec",
    "ModelSpec",
    "RunConfig",
    "TensorSpec",
    "load_config",
]
