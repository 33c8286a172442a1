"""One run, start to end: check the parts, load the data, run LoadGen, write the results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import registry
from .backends.base import Backend
from .config import RunConfig
from .data.dataset import Dataset
from .errors import HarnessError
from .loadgen.run import TestPlan, run_test
from .loadgen.scenarios import Scenario, scenario
from .loadgen.sut import QueryHandler, SampleStore
from .loadgen.userconf import UserConf, user_conf
from .metrics.base import Metric
from .report import Reporter
from .results import document, logs
from .results.performance import performance

USER_CONF = "user.conf"


@dataclass(frozen=True, kw_only=True)
class Parts:
    """Everything a test needs, checked against each other before LoadGen starts."""

    scenario: Scenario
    user_conf: UserConf
    metric: Metric
    backend: Backend
    dataset: Dataset


def execute(config: RunConfig, report: Reporter) -> dict[str, object]:
    """Run the test the config describes; return the result document written to result.json."""
    parts = prepare(config, report)
    measure(config, parts, report)
    doc = summarize(config, parts, report)
    path = config.output_dir / document.RESULT
    _write(path, document.result_text(doc))
    report.info(f"wrote {path}")
    return doc


def prepare(config: RunConfig, report: Reporter) -> Parts:
    kind = scenario(config.scenario)
    conf = user_conf(config.settings, config.scenario)
    for key in conf.not_applicable:
        report.info(f"setting {key} does not apply to {config.scenario}; left out of user.conf")
    preprocess = registry.preprocessor(config.data.preprocess)
    metric = registry.metric(config.data.metric)
    backend = registry.backend(config.backend.name)(config.model, config.backend)
    if config.backend.version and backend.version != config.backend.version:
        report.warn(
            f"the lock names {config.backend.name} {config.backend.version}, "
            f"this environment has {backend.version}"
        )
    if not config.data.path.exists():
        raise HarnessError(
            f"dataset {config.dataset}: {config.data.path} does not exist",
            hint="run `mlenv install` again",
        )
    report.info(f"loading {config.dataset} from {config.data.path}")
    dataset = preprocess(config.data.path, config.data.preprocess_params, config.data.samples)
    dataset.check_against(config.model.inputs, name=config.data.preprocess)
    parts = Parts(scenario=kind, user_conf=conf, metric=metric, backend=backend, dataset=dataset)
    _warm_up(config, parts)
    return parts


def measure(config: RunConfig, parts: Parts, report: Reporter) -> None:
    """Write user.conf and run the LoadGen test; LoadGen writes its logs into output_dir."""
    out = config.output_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in (document.RESULT, document.ACCURACY_TEXT):  # never left from an older run
            (out / stale).unlink(missing_ok=True)
        (out / USER_CONF).write_text(
            parts.user_conf.render(config.benchmark, config.scenario), encoding="utf-8"
        )
    except OSError as e:
        raise HarnessError(f"cannot write into the output folder {out}: {e.strerror}") from e
    store = SampleStore(parts.dataset)
    handler = QueryHandler(
        store=store,
        backend=parts.backend,
        metric=parts.metric,
        max_batch=config.backend.max_batch,
    )
    plan = TestPlan(
        benchmark=config.benchmark,
        scenario=config.scenario,
        mode=config.mode,
        user_conf=out / USER_CONF,
        output_dir=out,
        samples=config.data.samples,
        performance_sample_count=config.data.performance_sample_count,
    )
    report.info(f"running {config.benchmark} {config.scenario} {config.mode} -> {out}")
    run_test(plan, store, handler)
    if handler.failure is not None:
        raise HarnessError(f"inference failed during the test: {_first_line(handler.failure)}")
    trace = out / logs.TRACE  # LoadGen creates it even with the trace off
    if trace.is_file() and trace.stat().st_size == 0:
        trace.unlink()


def summarize(config: RunConfig, parts: Parts, report: Reporter) -> dict[str, object]:
    """Read LoadGen's logs; score the accuracy log in accuracy mode (writing accuracy.txt)."""
    out = config.output_dir
    log = logs.read_detail_log(out)
    for error in log.errors:
        report.warn(f"LoadGen: {error}")
    perf = None
    accuracy = None
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
    return document.result_document(
        config,
        valid=valid,
        performance=perf,
        accuracy=accuracy,
        backend_version=parts.backend.version,
        settings=parts.user_conf.values,
    )


def _warm_up(config: RunConfig, parts: Parts) -> None:
    """One batch through the model before LoadGen starts, so that a model that cannot take the
    data fails here with a message rather than inside LoadGen's threads."""
    size = min(config.backend.max_batch, len(parts.dataset))
    try:
        outputs = parts.backend.run([f[:size] for f in parts.dataset.features])
        if len(outputs) != len(config.model.outputs):
            raise ValueError(f"{len(outputs)} outputs, {len(config.model.outputs)} declared")
        responses = parts.metric.responses(outputs)
        if responses.shape[0] != size:
            raise ValueError(f"{responses.shape[0]} responses for {size} samples")
    except Exception as e:  # the backend's own errors, whatever their class
        raise HarnessError(
            f"model {config.model.path} failed on a batch of {size} samples: {_first_line(e)}",
            hint="check the model recipe's inputs/outputs and backend.max_batch",
        ) from e


def _write(path: Path, text: str) -> None:
    try:
        document.write_text(path, text)
    except OSError as e:
        raise HarnessError(f"cannot write {path}: {e.strerror}") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
