"""One run, start to end: check the parts, load the data, run LoadGen, write the results."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from . import calibrate, registry
from .backends.base import Backend
from .config import RunConfig
from .data.cache import load_dataset
from .data.dataset import Dataset
from .errors import HarnessError, TooFewSamples
from .loadgen import compliance
from .loadgen.dispatch import Inline, Pool
from .loadgen.progress import Progress
from .loadgen.run import TestPlan, Window, run_test
from .loadgen.scenarios import Scenario, scenario
from .loadgen.sut import Failure, SampleStore, Worker
from .loadgen.userconf import UserConf, user_conf
from .metrics.base import Metric
from .modelinfo import model_info
from .report import Reporter
from .results import document, logs
from .results.histogram import HISTOGRAM, latency_histogram
from .results.performance import performance
from .warmup import Timing

USER_CONF = "user.conf"


@dataclass(frozen=True, kw_only=True)
class Parts:
    """Everything a test needs, checked against each other before LoadGen starts; ``config``
    is the run config as run: the subset asked for, the knobs calibration chose."""

    config: RunConfig
    scenario: Scenario
    user_conf: UserConf
    metric: Metric
    backend: Backend
    dataset: Dataset
    timing: Timing  # of the warm-up batch: sizes the worker pool
    workers: int
    calibrated_keys: tuple[str, ...] = ()
    probe_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Latencies:
    """Issue-to-completion latencies the workers measured, with how many samples each counts,
    and the span of the LoadGen call they were measured in."""

    values_ns: NDArray[np.int64]
    weights: NDArray[np.int64]
    window: Window | None = None


def execute(config: RunConfig, report: Reporter) -> dict[str, object]:
    """Run the test the config describes; return the result document written to result.json."""
    parts = prepare(config, report)
    config = parts.config
    latencies = measure(config, parts, report)
    doc = summarize(config, parts, latencies, report)
    path = config.output_dir / document.RESULT
    _write(path, document.result_text(doc))
    report.info(f"wrote {path}")
    return doc


def prepare(config: RunConfig, report: Reporter) -> Parts:
    asked = config.samples
    config = replace(config, data=config.data_used)
    kind = scenario(config.scenario)
    data = config.data
    conf = user_conf(
        config.settings,
        config.scenario,
        samples=data.samples,
        performance_sample_count=data.performance_sample_count,
    )
    for key in conf.not_applicable:
        report.info(f"setting {key} does not apply to {config.scenario}; left out of user.conf")
    preprocess = registry.preprocessor(data.preprocess)
    metric = registry.metric(data.metric)
    audit = config.compliance
    if config.mode == "accuracy" or (audit is not None and audit.test == "TEST01"):
        metric.ready()
    if audit is not None:
        compliance.check_possible(audit.test, audit.reference_dir, data.performance_sample_count)
    factory = registry.backend(config.backend.name)
    started = time.perf_counter()
    backend = factory(config.model, config.backend)
    load_s = time.perf_counter() - started
    locked = config.backend.version
    if locked and backend.version.split("+")[0] != locked.split("+")[0]:
        report.warn(
            f"the lock names {config.backend.name} {locked}, this environment has {backend.version}"
        )
    if not data.path.exists():
        raise HarnessError(
            f"dataset {config.dataset}: {data.path} does not exist",
            hint="run `mlenv install` again",
        )
    report.info(f"loading {config.dataset} from {data.path}")
    try:
        dataset = load_dataset(
            preprocess,
            name=data.preprocess,
            path=data.path,
            params=data.preprocess_params,
            samples=data.samples,
            cache_dir=config.cache_dir,
            digest=data.digest,
            report=report,
        )
    except TooFewSamples as e:
        raise _too_few(e, asked) from e
    dataset.check_against(config.model.inputs, name=data.preprocess)
    choice = calibrate.calibrate(
        config, kind, backend, dataset, metric, user_set=conf.values, load_s=load_s
    )
    return Parts(
        config=choice.config,
        scenario=kind,
        user_conf=_with_chosen(config, conf, choice, report),
        metric=metric,
        backend=choice.backend,
        dataset=dataset,
        timing=choice.timing,
        workers=choice.workers,
        calibrated_keys=choice.keys,
        probe_seconds=choice.seconds,
    )


def _with_chosen(
    config: RunConfig, conf: UserConf, choice: calibrate.Choice, report: Reporter
) -> UserConf:
    """The effective user.conf, with the expected QPS/latency calibration chose."""
    if choice.keys:
        chosen = {
            "max-batch": choice.config.backend.max_batch,
            "threads": choice.config.backend.threads,
            "workers": choice.workers,
            **choice.settings,
        }
        shown = ", ".join(f"{k} {chosen[k]}" for k in choice.keys if k in chosen)
        report.info(f"calibrated in {choice.seconds:.2f} s: {shown}")
    if not choice.settings:
        return conf
    return user_conf(
        {**config.settings, **choice.settings},
        config.scenario,
        samples=config.data.samples,
        performance_sample_count=config.data.performance_sample_count,
    )


def _too_few(e: TooFewSamples, asked: int | None) -> HarnessError:
    if asked is not None:
        what = f"{e.source}: has {e.found} {e.unit}, fewer than the {e.wanted} samples asked for"
    else:
        what = f"{e.source}: has {e.found} {e.unit}, the dataset recipe says {e.wanted} samples"
    if e.found < 1:
        return HarnessError(what, hint="the dataset folder holds no samples it can use")
    return HarnessError(
        what,
        hint=f"run on the first {e.found} with `mlenv run --samples {e.found}` (or "
        f"`benchmark.samples: {e.found}` in mlenv.yaml), or supply the whole dataset",
    )


def measure(config: RunConfig, parts: Parts, report: Reporter) -> Latencies:
    """Write user.conf and run the LoadGen test; LoadGen writes its logs into output_dir."""
    out = config.output_dir
    audit = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        stale = (document.RESULT, document.ACCURACY_TEXT, HISTOGRAM, *document.VERIFY_FILES)
        for name in stale:  # never left from an older run
            (out / name).unlink(missing_ok=True)
        (out / USER_CONF).write_text(
            parts.user_conf.render(config.benchmark, config.scenario), encoding="utf-8"
        )
        if config.compliance is not None:
            audit = out / compliance.AUDIT_CONFIG
            audit.write_text(compliance.audit_config(config.compliance.test), encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"cannot write into the output folder {out}: {e.strerror}") from e
    store = SampleStore(parts.dataset)
    failure = Failure()
    count = parts.workers
    workers = [
        Worker(
            store=store,
            runner=parts.backend.runner(),
            metric=parts.metric,
            max_batch=config.backend.max_batch,
            failure=failure,
        )
        for _ in range(count)
    ]
    pooled = parts.scenario.name == "Server" or (parts.scenario.pooled and count > 1)
    delay_ns = config.backend.max_delay_us * 1000 if parts.scenario.name == "Server" else 0
    dispatch: Inline | Pool = (
        Pool(workers, max_batch=config.backend.max_batch, max_delay_ns=delay_ns)
        if pooled
        else Inline(workers[0])
    )
    plan = TestPlan(
        benchmark=config.benchmark,
        scenario=config.scenario,
        mode=config.mode,
        user_conf=out / USER_CONF,
        output_dir=out,
        samples=config.data.samples,
        performance_sample_count=config.data.performance_sample_count,
        audit_config=audit,
    )
    what = config.compliance.test if config.compliance else config.mode
    report.info(
        f"running {config.benchmark} {config.scenario} {what} -> {out} "
        f"({count} worker{'s' if count > 1 else ''}, batches of up to {config.backend.max_batch})"
    )

    def counters() -> tuple[int, int]:
        return dispatch.issued, sum(w.completed for w in dispatch.workers)

    def watch(min_duration_s: float | None) -> AbstractContextManager[object]:
        return Progress(
            counters,
            stream=report.stream,
            label=f"{config.scenario} {what}",
            min_duration_s=min_duration_s,
            expected_samples=config.data.samples if config.mode == "accuracy" else None,
            watchdog_s=config.watchdog_s,
            live=_is_terminal(report),
        )

    try:
        window = run_test(plan, store, dispatch, watch)
    finally:
        dispatch.close()
    if failure.error is not None:
        raise HarnessError(f"inference failed during the test: {_first_line(failure.error)}")
    trace = out / logs.TRACE  # LoadGen creates it even with the trace off
    if trace.is_file() and trace.stat().st_size == 0:
        trace.unlink()
    return _latencies(workers, window)


def summarize(
    config: RunConfig, parts: Parts, latencies: Latencies, report: Reporter
) -> dict[str, object]:
    """Read LoadGen's logs; score the accuracy log in accuracy mode (writing accuracy.txt)."""
    out = config.output_dir
    log = logs.read_detail_log(out)
    for error in log.errors:
        report.warn(f"LoadGen: {error}")
    perf = None
    accuracy = None
    verdict = None
    if config.mode == "accuracy":
        responses = logs.read_accuracy_log(out)
        scored = parts.metric.score(responses, parts.dataset.labels)
        _write(out / document.ACCURACY_TEXT, scored.summary + "\n")
        report.info(scored.summary)
        expected = log.values.get("effective_accuracy_sample_count", config.data.samples)
        valid = len(responses) == expected and not log.errors
        accuracy = scored.values
    else:
        perf = performance(log, parts.scenario, out)
        valid = perf.valid
        rate = f"{perf.samples_per_second:.1f}" if perf.samples_per_second else "?"
        report.info(
            f"{'VALID' if valid else 'INVALID'}: {rate} samples/s, "
            f"p90 latency {perf.latency_ns['p90']} ns, {perf.query_count} queries"
        )
        if perf.invalid_reason:
            report.info(f"LoadGen says: {perf.invalid_reason}")
        _histogram(config, latencies, perf.latency_ns)
    if config.compliance is not None:
        audit = config.compliance
        verdict = compliance.verdict(
            audit.test,
            parts.scenario,
            out,
            audit.reference_dir,
            metric=parts.metric,
            labels=parts.dataset.labels,
        )
        for check, name in zip(("accuracy", "performance"), document.VERIFY_FILES, strict=True):
            if check in verdict.checks:
                _write(out / name, compliance.report_lines(verdict, check))
        report.info(f"{audit.test}: {'PASS' if verdict.passed else 'FAIL'}")
    return document.result_document(
        config,
        valid=valid,
        performance=perf,
        accuracy=accuracy,
        backend_version=parts.backend.version,
        backend_provider=parts.backend.provider,
        settings=parts.user_conf.values,
        compliance=verdict.to_dict() if verdict else None,
        window_ns=latencies.window.to_dict() if latencies.window else None,
        benchmark_config=_benchmark_config(config, parts),
        model=model_info(config.model, parts.backend),
    )


def _benchmark_config(config: RunConfig, parts: Parts) -> dict[str, object]:
    """The knobs the run used, and which of them (and of the settings) calibration chose."""
    spec = config.backend
    return {
        "threads": spec.threads,
        "max-batch": spec.max_batch,
        "workers": parts.workers,
        "max-delay-us": spec.max_delay_us,
        "calibrated": bool(parts.calibrated_keys),
        "calibrated_keys": list(parts.calibrated_keys),
        "probe_seconds": parts.probe_seconds,
    }


def _histogram(config: RunConfig, latencies: Latencies, percentiles: dict[str, int | None]) -> None:
    title = f"{config.benchmark} {config.scenario} latency"
    svg = latency_histogram(latencies.values_ns, latencies.weights, percentiles, title=title)
    try:
        (config.output_dir / HISTOGRAM).write_bytes(svg)
    except OSError as e:
        raise HarnessError(f"cannot write {config.output_dir / HISTOGRAM}: {e.strerror}") from e


def _latencies(workers: list[Worker], window: Window | None = None) -> Latencies:
    values: list[NDArray[np.int64]] = []
    weights: list[NDArray[np.int64]] = []
    for w in workers:
        values.append(np.asarray(w.latency_ns, dtype=np.int64))
        weights.append(np.asarray(w.latency_weight, dtype=np.int64))
        for chunk in w.latency_arrays:
            values.append(chunk.astype(np.int64))
            weights.append(np.ones(len(chunk), dtype=np.int64))
    return Latencies(
        values_ns=np.concatenate(values), weights=np.concatenate(weights), window=window
    )


def _is_terminal(report: Reporter) -> bool:
    try:
        return bool(report.stream.isatty())
    except (AttributeError, ValueError):
        return False


def _write(path: Path, text: str) -> None:
    try:
        document.write_text(path, text)
    except OSError as e:
        raise HarnessError(f"cannot write {path}: {e.strerror}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
