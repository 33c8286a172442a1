"""The named parts a run config may ask for: preprocessors, metrics and backends.

This is the harness's only module-level table that grows: a new dataset, metric or engine is
one entry here plus its module. Backends are imported only when a run names one, because each
needs its engine installed in the environment.
"""

from __future__ import annotations

from importlib import import_module
from typing import TypeVar, cast

from .backends.base import BackendFactory
from .data.dataset import Preprocessor
from .data.digits import load_digits
from .errors import HarnessError
from .metrics.base import Metric
from .metrics.top1 import Top1

T = TypeVar("T")

PREPROCESSORS: dict[str, Preprocessor] = {"digits": load_digits}

METRICS: dict[str, Metric] = {"top1": Top1()}

# name -> (module in .backends, the Python module that module needs)
BACKENDS: dict[str, tuple[str, str]] = {"onnxruntime": ("ort", "onnxruntime")}


def preprocessor(name: str) -> Preprocessor:
    return _lookup(PREPROCESSORS, name, "preprocessor", "the dataset recipe's preprocess.name")


def metric(name: str) -> Metric:
    return _lookup(METRICS, name, "metric", "the dataset recipe's metric")


def backend(name: str) -> BackendFactory:
    module, needs = _lookup(BACKENDS, name, "backend", "the manifest's benchmark.backend")
    try:
        loaded = import_module(f"{__package__}.backends.{module}")
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != needs:
            raise
        raise HarnessError(
            f"backend {name} needs the Python module {needs}, "
            "which is not installed in this environment",
            hint=f"add {name} to the manifest's requires, then run `mlenv install`",
        ) from e
    return cast(BackendFactory, loaded.create)


def _lookup(table: dict[str, T], name: str, kind: str, where: str) -> T:
    found = table.get(name)
    if found is None:
        raise HarnessError(
            f"unknown {kind} {name!r}",
            hint=f"check {where}; this harness knows {', '.join(sorted(table))}",
        )
    return found
