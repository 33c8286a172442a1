"""The QSL's sample memory and the SUT's query handler, as LoadGen callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import mlperf_loadgen as lg
import numpy as np
from numpy.typing import NDArray

from ..backends.base import Backend
from ..data.dataset import Dataset
from ..metrics.base import Metric


class SampleStore:
    """The QSL's memory: LoadGen's load/unload select rows of the preprocessed dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self._features = dataset.features
        self._rows = np.full(len(dataset), -1, dtype=np.int64)  # sample index -> loaded row
        self._loaded: tuple[NDArray[Any], ...] = tuple(f[:0] for f in dataset.features)

    def load(self, indices: list[int]) -> None:
        new = np.asarray(indices, dtype=np.int64)
        start = len(self._loaded[0])
        pairs = zip(self._loaded, self._features, strict=True)
        self._loaded = tuple(np.concatenate([loaded, f[new]]) for loaded, f in pairs)
        self._rows[new] = np.arange(start, start + len(new))

    def unload(self, indices: list[int]) -> None:
        self._rows[np.asarray(indices, dtype=np.int64)] = -1
        if not np.any(self._rows >= 0):
            self._loaded = tuple(f[:0] for f in self._features)

    def gather(self, indices: NDArray[np.int64]) -> list[NDArray[Any]]:
        rows = self._rows[indices]
        if rows.size and rows.min() < 0:
            raise RuntimeError("LoadGen issued a sample that is not loaded")
        return [loaded[rows] for loaded in self._loaded]


class QueryHandler:
    """Answers each query in LoadGen's issue thread, in batches of at most ``max_batch``.

    An exception cannot cross into LoadGen (it would end the process or leave LoadGen waiting
    for ever): the first one is kept in ``failure``, and every sample from then on is
    completed with an empty response so that the test ends; the caller reports it after.
    """

    def __init__(self, *, store: SampleStore, backend: Backend, metric: Metric, max_batch: int):
        self._store = store
        self._backend = backend
        self._metric = metric
        self._max_batch = max_batch
        self.failure: Exception | None = None

    def issue(self, ids: list[int], indices: list[int]) -> None:
        done = 0
        try:
            if self.failure is None:
                positions = np.asarray(indices, dtype=np.int64)
                for start in range(0, len(ids), self._max_batch):
                    stop = start + self._max_batch
                    outputs = self._backend.run(self._store.gather(positions[start:stop]))
                    complete(ids[start:stop], self._metric.responses(outputs))
                    done = min(stop, len(ids))
        except Exception as e:  # reported by the caller once LoadGen has returned
            self.failure = e
        if done < len(ids):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids[done:]])

    def flush(self) -> None:
        pass


def complete(ids: Sequence[int], responses: NDArray[Any]) -> None:
    """Tell LoadGen that samples ``ids`` are done; row ``k`` of ``responses`` answers ``ids[k]``.

    The array must stay alive until QuerySamplesComplete returns: LoadGen copies the bytes
    (for the accuracy log) during the call, through the raw pointers given here.
    """
    count = len(ids)
    records = np.ascontiguousarray(responses).reshape(count, -1)
    size = records.shape[1] * records.itemsize
    base = records.ctypes.data
    pointers = range(base, base + size * count, size) if size else repeat(base, count)
    # one pybind object per sample (~0.4 us each) is most of the harness's own cost
    lg.QuerySamplesComplete(list(map(lg.QuerySampleResponse, ids, pointers, repeat(size, count))))
