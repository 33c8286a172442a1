"""The named parts a run config may ask for: preprocessors, metrics and backends.

This is the harness's only module-level table that grows: a new dataset, metric or engine is
one entry here plus its module. Backends are imported only when a run names one, because each
needs its engine installed in the environment; so are the task modules that need Pillow or
pycocotools (they import them only when used).
"""

from __future__ import annotations

from importlib import import_module
from typing import TypeVar, cast

from .backends.base import BackendFactory
from .data.coco import load_object_detection
from .data.dataset import Preprocessor
from .data.digits import load_digits
from .data.imagefolder import load_image_folder
from .data.images import load_image_classification
from .data.squad import load_question_answering
from .data.tables import load_csv, load_npz
from .errors import HarnessError
from .metrics.base import Metric
from .metrics.coco_map import CocoMap
from .metrics.squad import SquadF1
from .metrics.top1 import Top1

T = TypeVar("T")

PREPROCESSORS: dict[str, Preprocessor] = {
    "digits": load_digits,
    "image-classification": load_image_classification,
    "object-detection": load_object_detection,
    "question-answering": load_question_answering,
    # bring your own data (what `mlenv add dataset` writes)
    "npz": load_npz,
    "csv": load_csv,
    "image-folder": load_image_folder,
}

METRICS: dict[str, Metric] = {"top1": Top1(), "map": CocoMap(), "f1": SquadF1()}

# framework recipe name -> (module in .backends, the Python module that module needs)
BACKENDS: dict[str, tuple[str, str]] = {
    "onnxruntime": ("ort", "onnxruntime"),
    "onnxruntime-gpu": ("ort", "onnxruntime"),
    "torch": ("pytorch", "torch"),
    "pytorch": ("pytorch", "torch"),
    "tflite": ("tflite", "ai_edge_litert"),
    "litert": ("tflite", "ai_edge_litert"),
    "ai-edge-litert": ("tflite", "ai_edge_litert"),
    "openvino": ("openvino_rt", "openvino"),
    "null": ("null", "numpy"),
}


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
