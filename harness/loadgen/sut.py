"""The QSL's sample memory, one batch's work (gather, run, respond), and the bulk response call."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from itertools import repeat
from time import perf_counter_ns
from typing import Any

import mlperf_loadgen as lg
import numpy as np
from numpy.typing import NDArray

from ..backends.base import Runner
from ..data.dataset import Dataset
from ..metrics.base import Metric


class SampleStore:
    """The QSL's memory: LoadGen's load/unload copy rows of the preprocessed (possibly
    memory-mapped) dataset into RAM and drop them again."""

    def __init__(self, dataset: Dataset) -> None:
        self._features = dataset.features
        self._rows = np.full(len(dataset), -1, dtype=np.int64)  # sample index -> loaded row
        self._loaded: tuple[NDArray[Any], ...] = tuple(f[:0] for f in dataset.features)
        self.loaded_count = 0

    def load(self, indices: list[int]) -> None:
        new = np.asarray(indices, dtype=np.int64)
        start = len(self._loaded[0])
        pairs = zip(self._loaded, self._features, strict=True)
        self._loaded = tuple(np.concatenate([loaded, f[new]]) for loaded, f in pairs)
        self._rows[new] = np.arange(start, start + len(new))
        self.loaded_count += len(new)

    def unload(self, indices: list[int]) -> None:
        self._rows[np.asarray(indices, dtype=np.int64)] = -1
        self.loaded_count -= len(indices)
        if not np.any(self._rows >= 0):
            self._loaded = tuple(f[:0] for f in self._features)
            self.loaded_count = 0

    def buffers(self, rows: int) -> list[NDArray[Any]]:
        """Arrays a worker gathers batches into, reused from batch to batch."""
        return [np.empty((rows, *f.shape[1:]), dtype=f.dtype) for f in self._features]

    def gather(
        self, indices: Sequence[int] | NDArray[np.int64], buffers: Sequence[NDArray[Any]]
    ) -> list[NDArray[Any]]:
        """The model inputs of samples ``indices``: a view for one sample, else rows copied
        into ``buffers`` (which must hold at least ``len(indices)`` rows)."""
        if len(indices) == 1:
            row = int(self._rows[indices[0]])
            if row < 0:
                raise RuntimeError("LoadGen issued a sample that is not loaded")
            return [loaded[row : row + 1] for loaded in self._loaded]
        rows = self._rows[indices]
        if rows.min() < 0:
            raise RuntimeError("LoadGen issued a sample that is not loaded")
        n = len(rows)
        return [
            np.take(loaded, rows, axis=0, out=buffer[:n])
            for loaded, buffer in zip(self._loaded, buffers, strict=True)
        ]


class Failure:
    """The first exception of any worker; from then on every sample is answered empty so that
    LoadGen ends the test (an exception must never cross into LoadGen)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def set(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error


class Worker:
    """Answers batches: gather into its own buffers, run its runner, respond in bulk.

    It counts completed samples and keeps issue-to-completion latencies (for the histogram);
    only its own thread writes them.
    """

    def __init__(
        self,
        *,
        store: SampleStore,
        runner: Runner,
        metric: Metric,
        max_batch: int,
        failure: Failure,
    ) -> None:
        self._store = store
        self._runner = runner
        self._metric = metric
        self._buffers = store.buffers(max_batch)
        self.max_batch = max_batch
        self.failure = failure
        self.completed = 0
        self.latency_ns: list[int] = []  # one per batch issued at one time ...
        self.latency_weight: list[int] = []  # ... counting this many samples
        self.latency_arrays: list[NDArray[np.int64]] = []  # per sample, batches of many queries

    def process(self, ids: list[int], indices: Sequence[int], issued_ns: int) -> None:
        """One query (or a part of one) issued at ``issued_ns``, in batches of max_batch."""
        step = self.max_batch
        if len(ids) <= step:
            self.run_batch(ids, indices, issued_ns)
            return
        positions = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(ids), step):
            self.run_batch(ids[start : start + step], positions[start : start + step], issued_ns)

    def run_batch(
        self,
        ids: list[int],
        indices: Sequence[int] | NDArray[np.int64],
        issued_ns: int | NDArray[np.int64],
    ) -> None:
        answered = False
        try:
            if self.failure.error is None:
                outputs = self._runner.run(self._store.gather(indices, self._buffers))
                responses = self._metric.responses(outputs)
                done = perf_counter_ns()
                complete(ids, responses)
                answered = True
        except Exception as e:  # reported by the caller once LoadGen has returned
            self.failure.set(e)
        if not answered:
            complete_empty(ids)
            self.completed += len(ids)
            return
        self.completed += len(ids)
        if isinstance(issued_ns, int):
            self.latency_ns.append(done - issued_ns)
            self.latency_weight.append(len(ids))
        else:
            self.latency_arrays.append(done - issued_ns)


def complete(ids: Sequence[int], responses: NDArray[Any]) -> None:
    """Tell LoadGen that samples ``ids`` are done; row ``k`` of ``responses`` answers ``ids[k]``.

    The array must stay alive until QuerySamplesComplete returns: LoadGen copies the bytes
    (for the accuracy log) during the call, through the raw pointers given here.
    """
    count = len(ids)
    records = np.ascontiguousarray(responses).reshape(count, -1)
    size = records.shape[1] * records.itemsize
    base = records.ctypes.data
    if count == 1:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(ids[0], base, size)])
        return
    pointers = range(base, base + size * count, size) if size else repeat(base, count)
    # one pybind object per sample (~0.4 us each) is most of the harness's own cost
    lg.QuerySamplesComplete(_responses(lg.QuerySampleResponse, ids, pointers, size))


if sys.version_info >= (3, 12):  # map() over a pybind class is ~30% slower there (measured)

    def _responses(make: Any, ids: Sequence[int], pointers: Iterable[int], size: int) -> list[Any]:
        return [make(i, p, size) for i, p in zip(ids, pointers, strict=False)]

else:  # and the fastest way on 3.10 and 3.11

    def _responses(make: Any, ids: Sequence[int], pointers: Iterable[int], size: int) -> list[Any]:
        return list(map(make, ids, pointers, repeat(size, len(ids))))


def complete_empty(ids: Sequence[int]) -> None:
    lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])
