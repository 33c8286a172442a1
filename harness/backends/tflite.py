"""``tflite``: TensorFlow Lite models through LiteRT (``ai-edge-litert``'s ``Interpreter``).

An interpreter is not thread-safe: each worker gets its own. A batch of another size than the
last resizes the inputs (axis 0) and re-allocates the tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from .base import Backend, Runner, check_tensors, load_failed, require_format


class LiteRtRunner:
    def __init__(self, model: ModelSpec, threads: int) -> None:
        try:
            self._interpreter = Interpreter(model_path=str(model.path), num_threads=threads or None)
            self._interpreter.allocate_tensors()
        except Exception as e:  # LiteRT raises ValueError/RuntimeError
            raise load_failed(model, "LiteRT", e) from e
        inputs = {d["name"]: d for d in self._interpreter.get_input_details()}
        outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        check_tensors(model.inputs, _specs(inputs.values()), kind="input", model=model.path)
        check_tensors(model.outputs, _specs(outputs.values()), kind="output", model=model.path)
        self._inputs = [inputs[t.name]["index"] for t in model.inputs]
        self._outputs = [outputs[t.name]["index"] for t in model.outputs]
        self._shapes: list[tuple[int, ...]] = [
            tuple(int(d) for d in inputs[t.name]["shape"]) for t in model.inputs
        ]

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        it = self._interpreter
        shapes = [tuple(a.shape) for a in inputs]
        if shapes != self._shapes:
            for index, shape in zip(self._inputs, shapes, strict=True):
                it.resize_tensor_input(index, list(shape))
            it.allocate_tensors()
            self._shapes = shapes
        for index, array in zip(self._inputs, inputs, strict=True):
            it.set_tensor(index, np.ascontiguousarray(array))
        it.invoke()
        return [it.get_tensor(index) for index in self._outputs]


class LiteRtBackend:
    SESSION_THREADS = True  # threads are a setting of each session, not of the process

    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        require_format(model, "tflite", ("tflite",))
        self._model = model
        self._threads = spec.threads
        self._first: LiteRtRunner | None = LiteRtRunner(model, spec.threads)

    @property
    def version(self) -> str:
        try:
            return dist_version("ai-edge-litert")
        except PackageNotFoundError:
            return "unknown"

    @property
    def provider(self) -> str:
        return "cpu"

    @property
    def threads(self) -> int:
        return self._threads

    def runner(self) -> Runner:
        first, self._first = self._first, None
        return first if first is not None else LiteRtRunner(self._model, self._threads)

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        if self._first is None:
            self._first = LiteRtRunner(self._model, self._threads)
        return self._first.run(inputs)


def _specs(details: Any) -> list[TensorSpec]:
    return [
        TensorSpec(
            name=d["name"],
            shape=tuple(int(x) if x > 0 else -1 for x in d.get("shape_signature", d["shape"])),
            dtype=np.dtype(d["dtype"]).name,
        )
        for d in details
    ]


def create(model: ModelSpec, spec: BackendSpec) -> Backend:
    return LiteRtBackend(model, spec)
