"""Before LoadGen starts: one batch through the model, timed, and the worker pool sized from it.

The warm-up makes a model that cannot take the data fail with a message rather than inside
LoadGen's threads. Its timings size the pool for Offline and Server: a worker spends part of
each batch in the engine (which releases Python's GIL, so workers overlap there) and part in
Python (gathering inputs, making responses, LoadGen's response objects), which only one
thread runs at a time. More workers than (engine + Python) / Python only queue for the GIL —
a model as light as the digits MLP is best served by one — and never more than the cores
hold at the backend's threads each (Server leaves one to LoadGen's issue thread).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from itertools import repeat

import mlperf_loadgen as lg
import numpy as np

from .backends.base import Backend
from .config import RunConfig
from .data.dataset import Dataset
from .errors import HarnessError
from .loadgen.scenarios import Scenario
from .metrics.base import Metric


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Seconds per warm-up batch: in the engine, and in Python around it."""

    engine_s: float
    python_s: float


def cores() -> int:
    """The cores this process may run on."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return count or 1


def inference_failed(config: RunConfig, size: int, e: BaseException) -> HarnessError:
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    return HarnessError(
        f"model {config.model.path} failed on a batch of {size} samples: {first}",
        hint="check the model recipe's inputs/outputs and backend.max_batch",
    )


def warm_up(config: RunConfig, backend: Backend, metric: Metric, dataset: Dataset) -> Timing:
    size = min(config.backend.max_batch, len(dataset))
    rows = np.arange(size)
    buffers = [np.empty((size, *f.shape[1:]), dtype=f.dtype) for f in dataset.features]
    loaded = [np.array(f[:size]) for f in dataset.features]
    timing = Timing(engine_s=0.0, python_s=0.0)
    try:
        for _ in range(2):  # the second is timed: the first pays for one-off setup
            t0 = time.perf_counter()
            inputs = [np.take(f, rows, axis=0, out=b) for f, b in zip(loaded, buffers, strict=True)]
            t1 = time.perf_counter()
            outputs = backend.run(inputs)
            t2 = time.perf_counter()
            if len(outputs) != len(config.model.outputs):
                raise ValueError(f"{len(outputs)} outputs, {len(config.model.outputs)} declared")
            responses = metric.responses(outputs)
            if responses.shape[0] != size:
                raise ValueError(f"{responses.shape[0]} responses for {size} samples")
            list(map(lg.QuerySampleResponse, range(size), repeat(0), repeat(0)))
            t3 = time.perf_counter()
            timing = Timing(engine_s=t2 - t1, python_s=(t1 - t0) + (t3 - t2))
    except Exception as e:  # the backend's own errors, whatever their class
        raise inference_failed(config, size, e) from e
    return timing


def worker_count(config: RunConfig, scenario: Scenario, backend: Backend, timing: Timing) -> int:
    """As the run config asks; else see the module's docstring. Stream scenarios: 1."""
    if not scenario.pooled:
        return 1
    if config.backend.workers:
        return config.backend.workers
    spare = spare_cores(scenario)
    fit = max(1, spare // (backend.threads or cores()))
    useful = round((timing.engine_s + timing.python_s) / max(timing.python_s, 1e-9))
    return max(1, min(fit, useful))


def spare_cores(scenario: Scenario) -> int:
    """Cores for the workers: all of them, less one for LoadGen's issue thread in Server."""
    count = cores()
    return max(1, count - 1) if scenario.name == "Server" else count
