"""``onnxruntime``: ONNX models; the CUDA execution provider when this build has one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import onnxruntime as ort
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from .base import Backend, Runner, check_tensors, load_failed, require_format

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


# Execution providers tried first when this onnxruntime build has them (onnxruntime-gpu);
# a session falls back to the CPU when the GPU is not usable, and says so in get_providers().
PREFERRED = ("CUDAExecutionProvider",)
CPU = "CPUExecutionProvider"


def choose_providers(available: Sequence[str]) -> list[str]:
    return [p for p in PREFERRED if p in available] + [CPU]


class OnnxRuntimeBackend:
    """Sessions are thread-safe: every worker shares this one."""

    SESSION_THREADS = True  # threads are a setting of each session, not of the process

    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        require_format(model, "onnxruntime", ("onnx",))
        options = ort.SessionOptions()
        options.log_severity_level = _QUIET
        if spec.threads:
            options.intra_op_num_threads = spec.threads
            options.inter_op_num_threads = 1
        self._threads = spec.threads
        providers = choose_providers(ort.get_available_providers())
        try:
            try:
                self._session = ort.InferenceSession(
                    str(model.path), sess_options=options, providers=providers
                )
            except Exception:
                if providers == [CPU]:
                    raise
                self._session = ort.InferenceSession(
                    str(model.path), sess_options=options, providers=[CPU]
                )
        except Exception as e:  # onnxruntime raises its own RuntimeError subclasses
            raise load_failed(model, f"onnxruntime {ort.__version__}", e) from e
        check_tensors(
            model.inputs, _specs(self._session.get_inputs()), kind="input", model=model.path
        )
        check_tensors(
            model.outputs, _specs(self._session.get_outputs()), kind="output", model=model.path
        )
        self._inputs = [t.name for t in model.inputs]
        self._outputs = [t.name for t in model.outputs]
        self._provider = str(self._session.get_providers()[0])

    @property
    def version(self) -> str:
        return str(ort.__version__)

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def threads(self) -> int:
        return self._threads

    def runner(self) -> Runner:
        return self

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
