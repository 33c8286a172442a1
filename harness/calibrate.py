"""Calibration: a short probe before a performance run chooses what the user left open.

The probe runs the real backend on the run's own preprocessed samples, the way a worker does
(gather, run, make responses, one LoadGen response object per sample), before LoadGen
starts. It never runs past ``probe_budget_s`` by more than one call, and its time is
reported (``benchmark_config.probe_seconds``). What it may choose (``RunConfig.calibrate``):

- ``max-batch`` (Offline, Server): samples/s at batches of 1, 2, 4, … up to min(1024,
  samples) until two sizes in a row are not more than 5% better than the best so far (one
  alone may be noise), or the budget is spent; the best one is kept. Stream scenarios keep the batch they are given.
- ``threads`` and ``workers`` together (Offline, Server, CPU backends whose thread count is a
  setting of each session): one worker over a session with the engine's own threads against
  one worker per spare core over a single-threaded session, measured at the chosen batch, both
  as samples over the wall-clock time of back-to-back calls, the faster kept (on a ResNet-shaped
  model on 2 cores, two single-threaded workers ran 5-10% faster than one two-threaded one,
  which a median call time and a 5% hurdle for the pool had hidden); skipped when loading a session took more than a quarter of the budget. Otherwise the pool
  is sized by the warm-up rule (`warmup.worker_count`).
- ``expected`` (only the keys the settings leave unset for the scenario):
  - Offline ``target_qps`` = 1.1 × the samples/s measured with the chosen batch and workers.
    LoadGen issues target_qps × min_duration samples: too high only lengthens the run, too
    low ends it before min_duration (INVALID), so the estimate errs high.
  - SingleStream ``target_latency`` = 0.5 × the measured latency of one sample (ms).
    LoadGen pre-generates 2 × min_duration / expected latency queries: an expected latency
    above the real one runs out of queries (INVALID), one below only makes more.
  - MultiStream ``target_latency`` the same for a query of ``samples_per_query`` samples.
  - Server ``target_qps`` = the lower of 0.5 × the Offline throughput and 0.1 / the latency
    of one sample: a rate the pool keeps up with, with room for Poisson bursts, for the
    per-query cost of LoadGen's issue call and the pool's hand-over (which the probe does not
    see), and for a busy machine's pauses to drain well within the latency bound (on the
    digits model on 2 shared cores, 0.5 / latency was INVALID one run in two, 0.25 / latency
    sometimes). LoadGen's
    FindPeakPerformance mode would take several full-length runs, far beyond the budget.
  Every value is floored so that LoadGen never divides by zero (1 µs, 1 query/s).

A compliance run (TEST01, TEST04) takes what the probe chose for its reference run from that
run's result.json instead of probing again, so that both run the same configuration.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Any

import mlperf_loadgen as lg
import numpy as np
from numpy.typing import NDArray

from . import registry
from .backends.base import Backend, Runner
from .config import RunConfig
from .data.dataset import Dataset
from .loadgen.scenarios import Scenario
from .metrics.base import Metric
from .warmup import Timing, inference_failed, spare_cores, warm_up, worker_count

MAX_BATCH = 1024
BETTER = 1.05  # a larger batch must be this much faster to count as better (PATIENCE)
STEP_SHARE = 1 / 16  # of the budget: how long one size is measured
LOAD_SHARE = 0.25  # a session that loaded slower than this share of the budget is not re-made
OFFLINE_MARGIN = 1.1
STREAM_FACTOR = 0.5
SERVER_FACTOR = 0.5
SERVER_QUERY_FACTOR = 0.1  # queries/s per 1 / (seconds of one sample)
PATIENCE = 2  # sizes in a row not BETTER than the best end the batch sweep
MIN_LATENCY_MS = 0.001
MIN_QPS = 1.0
MULTISTREAM_SAMPLES = 8  # LoadGen's mlperf.conf samples_per_query
EXPECTED = {
    "SingleStream": "target_latency",
    "MultiStream": "target_latency",
    "Offline": "target_qps",
    "Server": "target_qps",
}


@dataclass(frozen=True, kw_only=True)
class Choice:
    """What calibration chose: the run config with the chosen backend knobs, the backend to
    run (maybe a re-made session), user.conf additions, the names chosen, the probe's
    seconds; and the warm-up's timing and the worker count it gives."""

    config: RunConfig
    backend: Backend
    settings: Mapping[str, float]
    keys: tuple[str, ...]
    seconds: float
    timing: Timing
    workers: int


def calibrate(
    config: RunConfig,
    scenario: Scenario,
    backend: Backend,
    dataset: Dataset,
    metric: Metric,
    *,
    user_set: Mapping[str, object],
    load_s: float,
) -> Choice:
    """Probe (performance mode, when anything may be chosen), warm up, size the pool."""
    settings: dict[str, float] = {}
    keys: list[str] = []
    reference = _reference(config)
    probing = config.mode == "performance" and config.calibrate.any() and reference is None
    state, probe = None, None
    seconds = 0.0
    if reference is not None:
        config, settings, keys = adopt_reference(config, reference)
    elif probing:
        state, probe = choose_knobs(config, scenario, backend, dataset, metric, load_s=load_s)
        config, backend, keys = state.config, state.backend, state.keys
        seconds = probe.elapsed()
    timing = warm_up(config, backend, metric, dataset)
    workers = worker_count(config, scenario, backend, timing)
    if state is not None and probe is not None:
        resumed = time.perf_counter()
        size = min(config.backend.max_batch, len(dataset))
        settings = choose_expected(
            state,
            probe,
            scenario,
            workers=workers,
            user_set=user_set,
            fallback_rate=workers * size / max(timing.engine_s + timing.python_s, 1e-9),
        )
        seconds += time.perf_counter() - resumed
        keys = state.keys
    return Choice(
        config=config,
        backend=backend,
        settings=settings,
        keys=tuple(keys),
        seconds=round(seconds, 3),
        timing=timing,
        workers=workers,
    )


def _reference(config: RunConfig) -> dict[str, Any] | None:
    """A compliance run's reference performance result, when it records a calibration."""
    if config.compliance is None or not config.calibrate.any():
        return None
    path = config.compliance.reference_dir / "performance" / "run_1" / "result.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("benchmark_config"), dict):
        return None
    return value


class Probe:
    """Times batches of real samples through a runner, within one deadline."""

    def __init__(self, config: RunConfig, dataset: Dataset, metric: Metric) -> None:
        self.config = config
        self.started = time.perf_counter()
        self.deadline = self.started + config.probe_budget_s
        self.step_s = config.probe_budget_s * STEP_SHARE
        self._features = dataset.features
        self._count = len(dataset)
        self._metric = metric
        self._loaded: dict[int, tuple[list[NDArray[Any]], NDArray[np.int64]]] = {}

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def _arrays(self, size: int) -> tuple[list[NDArray[Any]], NDArray[np.int64]]:
        if size not in self._loaded:
            rows = min(size, self._count)
            loaded = [np.ascontiguousarray(f[:rows]) for f in self._features]
            self._loaded[size] = (loaded, np.arange(size, dtype=np.int64) % rows)
        return self._loaded[size]

    def buffers(self, size: int) -> list[NDArray[Any]]:
        return [np.empty((size, *f.shape[1:]), dtype=f.dtype) for f in self._features]

    def call(self, runner: Runner, size: int, buffers: list[NDArray[Any]]) -> float:
        """Seconds for one batch of ``size`` samples, as a worker answers it."""
        loaded, rows = self._arrays(size)
        t0 = time.perf_counter()
        try:
            if size == 1:
                inputs = [a[0:1] for a in loaded]
            else:
                inputs = [
                    np.take(a, rows, axis=0, out=b) for a, b in zip(loaded, buffers, strict=True)
                ]
            responses = self._metric.responses(runner.run(inputs))
            list(map(lg.QuerySampleResponse, range(size), repeat(0), repeat(0)))
        except Exception as e:  # the backend's own errors, whatever their class
            raise inference_failed(self.config, size, e) from e
        if responses.shape[0] != size:
            raise inference_failed(self.config, size, ValueError(f"{responses.shape[0]} responses"))
        return time.perf_counter() - t0

    def seconds_per_call(self, runner: Runner, size: int, guess: float = 0.0) -> float | None:
        """Median seconds of timed calls (one untimed first), for ``step_s`` and at least two
        of them; None when the budget does not hold two."""
        if guess and self.left() < 3 * guess:
            return None
        buffers = self.buffers(size)
        last = self.call(runner, size, buffers)
        times: list[float] = []
        spent = 0.0
        while (len(times) < 2 or spent < self.step_s) and self.left() > last:
            last = self.call(runner, size, buffers)
            times.append(last)
            spent += last
        return float(np.median(times)) if times else None

    def concurrent_rate(self, backend: Backend, size: int, workers: int) -> float | None:
        """Samples/s of ``workers`` threads calling batches of ``size`` at once."""
        runners = [backend.runner() for _ in range(workers)]
        buffers = [self.buffers(size) for _ in range(workers)]
        guess = max(self.call(r, size, b) for r, b in zip(runners, buffers, strict=True))
        duration = min(self.step_s * 2, self.left() - guess)
        if duration <= guess:
            return None
        done = [0] * workers
        errors: list[BaseException] = []
        t0 = time.perf_counter()
        stop = t0 + duration

        def serve(i: int) -> None:
            try:
                while time.perf_counter() < stop:
                    self.call(runners[i], size, buffers[i])
                    done[i] += size
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=serve, args=(i,), daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sum(done) / (time.perf_counter() - t0)


@dataclass
class _State:
    config: RunConfig
    backend: Backend
    keys: list[str]
    rates: dict[tuple[int, int], float]  # (batch, workers) -> samples/s measured


def choose_knobs(
    config: RunConfig,
    scenario: Scenario,
    backend: Backend,
    dataset: Dataset,
    metric: Metric,
    *,
    load_s: float,
) -> tuple[_State, Probe]:
    """Phase one, before the warm-up: max-batch, then threads and workers."""
    state = _State(config=config, backend=backend, keys=[], rates={})
    probe = Probe(config, dataset, metric)
    wanted = config.calibrate
    if not scenario.pooled:
        return state, probe
    if wanted.max_batch:
        _sweep(state, probe, min(MAX_BATCH, len(dataset)))
    if wanted.threads and wanted.workers and _can_remake(backend, load_s, config):
        _compare_pools(state, probe, scenario, load_s)
    return state, probe


def _sweep(state: _State, probe: Probe, cap: int) -> None:
    best: tuple[float, int] | None = None
    size, last, flat = 1, 0.0, 0
    while True:
        per_call = probe.seconds_per_call(state.backend, size, guess=last)
        if per_call is None:
            break
        rate = size / per_call
        state.rates[(size, 1)] = rate
        flat = 0 if best is None or rate > best[0] * BETTER else flat + 1
        if best is None or rate > best[0]:
            best = (rate, size)
        if flat >= PATIENCE or size >= cap:
            break
        last, size = per_call * min(2 * size, cap) / size, min(2 * size, cap)
    if best is not None:
        state.config = _with_backend(state.config, max_batch=best[1])
        state.keys.append("max-batch")


def _can_remake(backend: Backend, load_s: float, config: RunConfig) -> bool:
    cpu = "cpu" in backend.provider.lower()
    return (
        cpu
        and bool(getattr(backend, "SESSION_THREADS", False))
        and load_s <= LOAD_SHARE * config.probe_budget_s
    )


def _compare_pools(state: _State, probe: Probe, scenario: Scenario, load_s: float) -> None:
    """Both pools measured alike: samples over wall-clock time of back-to-back calls (a
    median call time flatters the one worker), the faster one kept."""
    workers = spare_cores(scenario)
    if workers < 2 or probe.left() < 2 * load_s + 4 * probe.step_s:
        return
    size = min(state.config.backend.max_batch, MAX_BATCH)
    one = probe.concurrent_rate(state.backend, size, 1)
    if one is None:
        return
    spec = replace(state.config.backend, threads=1)
    other = registry.backend(spec.name)(state.config.model, spec)
    many = probe.concurrent_rate(other, size, workers)
    if many is None:
        return
    state.rates[(size, workers)] = many
    if many > one:
        state.backend = other
        state.config = _with_backend(state.config, threads=1, workers=workers)
    else:
        state.config = _with_backend(state.config, workers=1)
    state.keys.extend(["threads", "workers"])


def _rate(state: _State, probe: Probe, size: int, workers: int) -> float | None:
    known = state.rates.get((size, workers))
    if known is not None:
        return known
    if workers > 1:
        rate = probe.concurrent_rate(state.backend, size, workers)
    else:
        per_call = probe.seconds_per_call(state.backend, size)
        rate = size / per_call if per_call else None
    if rate is not None:
        state.rates[(size, workers)] = rate
    return rate


def choose_expected(
    state: _State,
    probe: Probe,
    scenario: Scenario,
    *,
    workers: int,
    user_set: Mapping[str, object],
    fallback_rate: float,
) -> dict[str, float]:
    """Phase two, once the pool is sized: LoadGen's expected QPS or latency."""
    key = EXPECTED[scenario.name]
    if not state.config.calibrate.expected or key in user_set:
        return {}
    batch = min(state.config.backend.max_batch, MAX_BATCH, state.config.data.samples)
    if scenario.name == "SingleStream":
        single = probe.seconds_per_call(state.backend, 1) or 1 / fallback_rate
        value = max(MIN_LATENCY_MS, STREAM_FACTOR * single * 1e3)
    elif scenario.name == "MultiStream":
        spq = int(float(str(user_set.get("samples_per_query", MULTISTREAM_SAMPLES))))
        query = _query_seconds(state, probe, spq) or spq / fallback_rate
        value = max(MIN_LATENCY_MS, STREAM_FACTOR * query * 1e3)
    else:
        rate = _rate(state, probe, batch, workers) or fallback_rate
        if scenario.name == "Offline":
            value = max(MIN_QPS, OFFLINE_MARGIN * rate)
        else:
            one = probe.seconds_per_call(state.backend, 1)
            value = SERVER_FACTOR * rate
            if one:
                value = min(value, SERVER_QUERY_FACTOR / one)
            value = max(MIN_QPS, value)
    state.keys.append(key)
    return {key: float(f"{value:.4g}")}


def _query_seconds(state: _State, probe: Probe, samples: int) -> float | None:
    """One MultiStream query: ``samples`` in chunks of max_batch, as the inline worker does."""
    step = state.config.backend.max_batch
    chunks = [min(step, samples - start) for start in range(0, samples, step)]
    total = 0.0
    for size in sorted(set(chunks)):
        per_call = probe.seconds_per_call(state.backend, size)
        if per_call is None:
            return None
        total += per_call * chunks.count(size)
    return total


def adopt_reference(
    config: RunConfig, reference: Mapping[str, Any]
) -> tuple[RunConfig, dict[str, float], list[str]]:
    """A compliance run: the reference run's chosen values, for what may be chosen."""
    chosen = reference["benchmark_config"]
    names = [k for k in chosen.get("calibrated_keys", []) if isinstance(k, str)]
    wanted = config.calibrate
    knobs: dict[str, int] = {}
    for name, field, allowed in (
        ("max-batch", "max_batch", wanted.max_batch),
        ("threads", "threads", wanted.threads),
        ("workers", "workers", wanted.workers),
    ):
        value = chosen.get(name)
        if allowed and name in names and isinstance(value, int) and value >= 0:
            knobs[field] = value
    settings: dict[str, float] = {}
    used = reference.get("settings", {})
    if wanted.expected and isinstance(used, dict):
        for key in ("target_qps", "target_latency"):
            value = used.get(key)
            if key in names and isinstance(value, int | float) and key not in config.settings:
                settings[key] = float(value)
    names = [{"max_batch": "max-batch"}.get(k, k) for k in knobs]
    return _with_backend(config, **knobs), settings, [*names, *settings]


def _with_backend(config: RunConfig, **changes: int) -> RunConfig:
    if not changes:
        return config
    spec = config.backend
    backend = replace(
        spec,
        max_batch=changes.get("max_batch", spec.max_batch),
        threads=changes.get("threads", spec.threads),
        workers=changes.get("workers", spec.workers),
    )
    return replace(config, backend=backend)
