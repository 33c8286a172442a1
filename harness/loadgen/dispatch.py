"""How queries reach the workers: inline in LoadGen's issue thread, or through a batching pool.

- ``Inline``: the stream scenarios (the next query waits for this one) and an Offline run with
  one worker: the query is answered in LoadGen's issue thread, nothing in between.
- ``Pool``: Server (queries arrive one by one at random times) and Offline with several
  workers. Arriving samples queue up; an idle worker takes up to ``max_batch`` of them, and
  when it has fewer it waits up to ``max_delay`` after the oldest one arrived for more
  (Server only). LoadGen's ``FlushQueries`` makes waiting workers go at once.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from time import perf_counter_ns
from typing import Any

import numpy as np

from .sut import Worker


class Inline:
    def __init__(self, worker: Worker) -> None:
        self.workers = [worker]
        self.issued = 0

    def issue(self, ids: list[int], indices: list[int]) -> None:
        self.issued += len(ids)
        self.workers[0].process(ids, indices, perf_counter_ns())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Entry:
    __slots__ = ("ids", "indices", "issued_ns", "taken")

    def __init__(self, ids: list[int], indices: Any, issued_ns: int) -> None:
        self.ids = ids
        self.indices = indices
        self.issued_ns = issued_ns
        self.taken = 0


class Pool:
    def __init__(self, workers: Sequence[Worker], *, max_batch: int, max_delay_ns: int) -> None:
        self.workers = list(workers)
        self.issued = 0
        self._max_batch = max_batch
        self._max_delay_ns = max_delay_ns
        self._cond = threading.Condition()
        self._pending: deque[_Entry] = deque()
        self._queued = 0
        self._flushes = 0
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve, args=(w,), name=f"mlenv-worker-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def issue(self, ids: list[int], indices: list[int]) -> None:
        t = perf_counter_ns()
        entry = _Entry(ids, np.asarray(indices, dtype=np.int64) if len(ids) > 1 else indices, t)
        with self._cond:
            self._pending.append(entry)
            self._queued += len(ids)
            self.issued += len(ids)
            self._cond.notify()

    def flush(self) -> None:
        with self._cond:
            self._flushes += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _serve(self, worker: Worker) -> None:
        while True:
            with self._cond:
                batch = self._next()
                if batch is None:
                    return
                if self._pending:
                    self._cond.notify()  # more for another worker
            try:
                worker.run_batch(*batch)
            except BaseException as e:  # never leave LoadGen waiting for these samples
                worker.failure.set(e)

    def _next(self) -> tuple[list[int], Any, Any] | None:
        """Under the lock: wait for samples, maybe for a fuller batch, and take them."""
        while True:
            while not self._pending:
                if self._stopping:
                    return None
                self._cond.wait()
            if self._queued < self._max_batch and self._max_delay_ns:
                flushes = self._flushes
                deadline = self._pending[0].issued_ns + self._max_delay_ns
                while self._queued < self._max_batch and self._flushes == flushes:
                    left = deadline - perf_counter_ns()
                    if left <= 0 or self._stopping:
                        break
                    self._cond.wait(left / 1e9)
                if not self._pending:  # another worker took them meanwhile
                    continue
            return self._take()

    def _take(self) -> tuple[list[int], Any, Any]:
        parts: list[tuple[_Entry, int, int]] = []
        need = self._max_batch
        while self._pending and need:
            entry = self._pending[0]
            start = entry.taken
            stop = min(len(entry.ids), start + need)
            parts.append((entry, start, stop))
            entry.taken = stop
            need -= stop - start
            if stop == len(entry.ids):
                self._pending.popleft()
        self._queued -= self._max_batch - need
        if len(parts) == 1:
            entry, start, stop = parts[0]
            ids = entry.ids if (start, stop) == (0, len(entry.ids)) else entry.ids[start:stop]
            return ids, entry.indices[start:stop], entry.issued_ns
        ids = list(itertools.chain.from_iterable(e.ids[a:b] for e, a, b in parts))
        indices = np.fromiter(
            itertools.chain.from_iterable(e.indices[a:b] for e, a, b in parts),
            dtype=np.int64,
            count=len(ids),
        )
        issued = np.repeat(
            np.fromiter((e.issued_ns for e, _, _ in parts), dtype=np.int64, count=len(parts)),
            [b - a for _, a, b in parts],
        )
        return ids, indices, issued
