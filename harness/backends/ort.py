"""``onnxruntime``: ONNX models on the CPU execution provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import onnxruntime as ort
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from ..errors import HarnessError
from .base import Backend, check_tensors

_DTYPES: Mapping[str, str] = MappingProxyType(
    {
        "tensor(float16)": "float16",
        "tensor(float)": "float32",
        "tensor(double)": "float64",
        "tensor(int8)": "int8",
        "tensor(int16)": "int16",
        "tensor(int32)": "int32",
        "tensor(int64)": "int64",
        "tensor(uint8)": "uint8",
        "tensor(uint16)": "uint16",
        "tensor(uint32)": "uint32",
        "tensor(uint64)": "uint64",
        "tensor(bool)": "bool",
    }
)
_QUIET = 3  # onnxruntime log severity: errors only


class OnnxRuntimeBackend:
    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        if model.format != "onnx":
            raise HarnessError(
                f"backend onnxruntime runs ONNX models, the model's format is {model.format}",
                hint="choose a backend for that format in the manifest's benchmark.backend",
            )
        if not model.path.is_file():
            raise HarnessError(
                f"model file {model.path} does not exist", hint="run `mlenv install` again"
            )
        options = ort.SessionOptions()
        options.log_severity_level = _QUIET
        if spec.threads:
            options.intra_op_num_threads = spec.threads
        try:
            self._session = ort.InferenceSession(
                str(model.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own RuntimeError subclasses
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise HarnessError(
                f"model {model.path}: onnxruntime {ort.__version__} cannot load it: {first}"
            ) from e
        check_tensors(
            model.inputs, _specs(self._session.get_inputs()), kind="input", model=model.path
        )
        check_tensors(
            model.outputs, _specs(self._session.get_outputs()), kind="output", model=model.path
        )
        self._inputs = [t.name for t in model.inputs]
        self._outputs = [t.name for t in model.outputs]

    @property
    def version(self) -> str:
        return str(ort.__version__)

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        feed = dict(zip(self._inputs, inputs, strict=True))
        return list(self._session.run(self._outputs, feed))


def _specs(args: Sequence[Any]) -> list[TensorSpec]:
    return [
        TensorSpec(
            name=a.name,
            shape=tuple(d if isinstance(d, int) and d > 0 else -1 for d in (a.shape or [])),
            dtype=_DTYPES.get(a.type, a.type),
        )
        for a in args
    ]


def create(model: ModelSpec, spec: BackendSpec) -> Backend:
    return OnnxRuntimeBackend(model, spec)
