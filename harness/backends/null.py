"""``null``: no model at all; zeros of the declared output shapes. It measures the harness's
own cost (benchmarks/bench_harness.py) and needs nothing but numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec
from .base import Backend, Runner


class NullBackend:
    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        self._zeros = [
            np.zeros((spec.max_batch, *(d if d > 0 else 1 for d in t.shape[1:])), dtype=t.dtype)
            for t in model.outputs
        ]

    @property
    def version(self) -> str:
        return "0"

    @property
    def provider(self) -> str:
        return "none"

    @property
    def threads(self) -> int:
        return 1

    def runner(self) -> Runner:
        return self

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        n = len(inputs[0])
        if n > len(self._zeros[0]):
            return [np.zeros((n, *z.shape[1:]), dtype=z.dtype) for z in self._zeros]
        return [z[:n] for z in self._zeros]


def create(model: ModelSpec, spec: BackendSpec) -> Backend:
    return NullBackend(model, spec)
