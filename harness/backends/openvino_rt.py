"""``openvino``: OpenVINO IR (``.xml`` with its ``.bin``) or ONNX models on OpenVINO's CPU plugin.

``Core().read_model`` then ``compile_model(…, "CPU")``; an infer request is not thread-safe,
so each worker gets its own from the one compiled model.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import numpy as np
import openvino as ov
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from ..errors import HarnessError
from .base import Backend, Runner, check_tensors, load_failed, require_format

DEVICE = "CPU"


class OpenVinoRunner:
    def __init__(self, compiled: Any, inputs: list[str], outputs: list[int]) -> None:
        self._request = compiled.create_infer_request()
        self._inputs = inputs
        self._ports = [compiled.outputs[i] for i in outputs]

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        feed = {n: np.ascontiguousarray(a) for n, a in zip(self._inputs, inputs, strict=True)}
        result = self._request.infer(feed, share_inputs=True)
        return [np.asarray(result[port]) for port in self._ports]


class OpenVinoBackend:
    SESSION_THREADS = True  # threads are a setting of each session, not of the process

    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        require_format(model, "openvino", ("openvino", "onnx"))
        core = ov.Core()
        config = {"INFERENCE_NUM_THREADS": spec.threads} if spec.threads else {}
        try:
            graph = core.read_model(str(model.path))
            inputs = _specs(graph.inputs)
            outputs = _specs(graph.outputs)
            check_tensors(model.inputs, inputs, kind="input", model=model.path)
            check_tensors(model.outputs, outputs, kind="output", model=model.path)
            self._compiled = core.compile_model(graph, DEVICE, config)
        except HarnessError:
            raise
        except Exception as e:  # OpenVINO raises RuntimeError and its own kinds
            raise load_failed(model, f"openvino {self.version}", e) from e
        names = [t.name for t in outputs]
        self._inputs = [t.name for t in model.inputs]
        self._outputs = [names.index(t.name) for t in model.outputs]
        self._threads = spec.threads
        self._first: OpenVinoRunner | None = None

    @property
    def version(self) -> str:
        try:
            return dist_version("openvino")
        except PackageNotFoundError:
            return str(ov.__version__).split("-")[0]

    @property
    def provider(self) -> str:
        return DEVICE

    @property
    def threads(self) -> int:
        return self._threads

    def runner(self) -> Runner:
        return OpenVinoRunner(self._compiled, self._inputs, self._outputs)

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        if self._first is None:
            self._first = OpenVinoRunner(self._compiled, self._inputs, self._outputs)
        return self._first.run(inputs)


def _specs(ports: Any) -> list[TensorSpec]:
    return [
        TensorSpec(
            name=port.get_any_name(),
            shape=tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape()),
            dtype=np.dtype(port.get_element_type().to_dtype()).name,
        )
        for port in ports
    ]


def create(model: ModelSpec, spec: BackendSpec) -> Backend:
    return OpenVinoBackend(model, spec)
