"""run: measure the manifest's benchmark in its locked environment (CONTRACTS §6, §8, §9).

The lock (re-resolved unless frozen/locked), its section for this machine, the environment
(built if needed), one harness process per scenario x mode (`benchrun`); the result folders are
published whole before anything is judged. Then the INVALID rule: a performance run LoadGen
marked INVALID fails the op with LoadGen's reason and how to fix it, unless `allow_invalid`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError, RunError, UsageError
from mlenv.lock import LockTarget
from mlenv.machine import machine_facts
from mlenv.manifest import DEFAULT_PROFILE, MODES, PROFILES, SCENARIOS, Benchmark

from .benchrun import result_dir, run_benchmark
from .install import Environment, ensure_env
from .measure import Measure, tree_bytes
from .project import Project
from .resolve import current_lock

__all__ = [
    "InvalidRunError",
    "RunRequest",
    "RunResult",
    "measure_of",
    "overrides_of",
    "run",
]

SUMMARY = "mlperf_log_summary.txt"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """What to measure. `settings` is shaped as the manifest's `benchmark.settings`: top-level
    LoadGen keys for every scenario, a scenario's name mapping to keys for that scenario only
    (`{"min_duration": 500, "Offline": {"target_qps": 900}}`)."""

    scenarios: tuple[str, ...] = ()  # empty: the manifest's
    modes: tuple[str, ...] = ()  # empty: the manifest's
    settings: Mapping[str, Any] = field(default_factory=dict)
    target: str | None = None  # the lock section (default: this machine's)
    frozen: bool = False
    locked: bool = False
    allow_drift: bool = False
    verify: bool = False  # hash every artifact file before the run
    compliance: tuple[str, ...] = ()  # TEST01, TEST04
    allow_invalid: bool = False  # an INVALID performance run is no failure
    profile: str | None = None  # quick | submission; None: the manifest's, else quick
    samples: int | None = None  # a subset: the dataset's first N; None: the manifest's, else all
    repeat: int = 1  # each performance measurement this many times (medians at the top)
    record: bool = True  # record the runs in the results database (CONTRACTS §13)
    results_url: str | None = None  # that database (default: MLENV_RESULTS, else beside it)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    results: list[dict[str, Any]]  # the result.json documents, in run order
    section: LockTarget
    env: Environment


class InvalidRunError(RunError):
    """A performance run LoadGen marked INVALID; its results are written and in `results`
    (and in `details["results"]`)."""

    def __init__(self, message: str, *, results: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.results = results


def run(project: Project, request: RunRequest) -> RunResult:
    """`mlenv run`; raises InvalidRunError (exit 1) on an INVALID performance run."""
    bench = _benchmark(project)
    overrides = overrides_of(request.settings)  # bad settings fail before any install
    _check_names(request)
    measure = measure_of(project, bench, request)
    lock = current_lock(project, frozen=request.frozen, locked=request.locked)
    section = project.lock_section(lock, request.target)
    env, _ = ensure_env(project, section, allow_drift=request.allow_drift, verify=request.verify)
    measure = dataclasses.replace(
        measure, machine=machine_facts(project.environ), env_bytes=tree_bytes(env.path)
    )
    results_root = project.project_dir / "results"
    results = run_benchmark(
        project,
        section,
        env,
        bench,
        scenarios=list(request.scenarios or bench.scenarios),
        modes=list(request.modes or bench.modes),
        overrides=overrides,
        results_root=results_root,
        compliance=request.compliance,
        measure=measure,
    )
    if request.record:
        _record(project, results, request.results_url)
    if not request.allow_invalid:
        invalid = [r for r in results if _is_invalid(r)]
        if invalid:
            folders = [
                result_dir(results_root, section, bench, str(r["scenario"]), "performance")
                for r in invalid
            ]
            raise invalid_error(invalid, folders, results)
    return RunResult(results=results, section=section, env=env)


def _record(project: Project, results: list[dict[str, Any]], url: str | None) -> None:
    """Every run goes into the results database too; the results on disk are the truth, so a
    database that cannot take them costs a warning, not the measurement."""
    from .results import record_run_results  # SQLAlchemy loads only when there is a run

    try:
        record_run_results(project, results, url=url)
    except MlenvError as e:
        project.reporter.warn(
            f"the results are in results/ but not in the results database: {e.message} "
            "(`mlenv results import results/` records them later)"
        )


def _benchmark(project: Project) -> Benchmark:
    bench = project.manifest.benchmark
    if bench is None:
        name = project.manifest_path.name
        raise UsageError(
            f"{name} has no `benchmark:` section, so there is nothing to run",
            where=f"{project.manifest_path}: benchmark",
            hint="add benchmark: {model, dataset, backend} (see `mlenv init --example digits`)",
        )
    return bench


def measure_of(project: Project, bench: Benchmark, request: RunRequest) -> Measure:
    """The profile, subset and repeats asked for, checked against each other and the dataset."""
    where = f"{project.manifest_path}: benchmark"
    profile = request.profile or bench.profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}", hint=f"one of {', '.join(PROFILES)}")
    samples = request.samples if request.samples is not None else bench.samples
    if request.repeat < 1 or (samples is not None and samples < 1):
        raise UsageError(
            "repeat and samples must be at least 1", hint="e.g. --repeat 3 --samples 100"
        )
    if profile == "submission" and samples is not None:
        raise UsageError(
            f"the submission profile runs the whole dataset, but a subset of {samples} samples "
            "was asked for",
            where=where if request.samples is None else None,
            why="LoadGen's mlperf.conf rules (and `mlenv submit`) need the full data set",
            hint="drop --samples (or benchmark.samples), or use --profile quick",
        )
    located = project.index.get(bench.dataset)
    full = located.recipe.samples if located is not None else None
    if samples is not None and isinstance(full, int) and samples > full:
        raise UsageError(
            f"{samples} samples asked for, but the dataset {bench.dataset} has {full}",
            where=located.label if located is not None else None,
            hint=f"ask for at most {full} samples",
        )
    return Measure(profile=profile, samples=samples, repeat=request.repeat, fixed=bench.fixed)


def _check_names(request: RunRequest) -> None:
    for what, names, known in (
        ("scenario", request.scenarios, SCENARIOS),
        ("mode", request.modes, MODES),
    ):
        for name in names:
            if name not in known:
                raise UsageError(f"unknown {what} {name!r}", hint=f"one of {', '.join(known)}")


def overrides_of(settings: Mapping[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Manifest-shaped settings -> `{None: {every scenario's}, "Offline": {Offline's}}`."""
    out: dict[str | None, dict[str, Any]] = {}
    for key, value in settings.items():
        if key in SCENARIOS:
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise UsageError(
                    f"settings: {key} must map LoadGen keys to values, found {value!r}",
                    hint=f'e.g. settings={{"{key}": {{"min_duration": 1000}}}}',
                )
            out.setdefault(key, {}).update(value)
        elif isinstance(value, Mapping):
            raise UsageError(
                f"settings: unknown scenario {key!r}", hint=f"one of {', '.join(SCENARIOS)}"
            )
        elif not isinstance(key, str) or not key:
            raise UsageError(f"settings: {key!r} is not a LoadGen key", hint="e.g. min_duration")
        else:
            out.setdefault(None, {})[key] = value
    return out


# -- the INVALID rule ------------------------------------------------------------------------


def _is_invalid(result: Mapping[str, Any]) -> bool:
    """A plain performance run (not a compliance test) LoadGen marked INVALID."""
    return (
        result.get("mode") == "performance"
        and result.get("compliance") is None
        and result.get("valid") is False
    )


@dataclass(frozen=True, slots=True)
class InvalidReason:
    """What LoadGen's summary says after `Result is : INVALID`."""

    unmet: tuple[str, ...]  # "Min duration satisfied", … (the lines that say NO)
    recommendations: tuple[str, ...]
    early_stopping: tuple[str, ...] = ()  # the "Early Stopping Result" lines, when it failed

    def queries_needed(self) -> int | None:
        """Early stopping's `Processed N queries` + `at least M more`: the queries it wants."""
        text = " ".join(self.early_stopping)
        done = re.search(r"Processed (\d+) queries", text)
        more = re.search(r"at least (\d+) more queries", text)
        return int(done[1]) + int(more[1]) if done and more else None


def invalid_reason(summary: str) -> InvalidReason:
    """The unmet constraints and LoadGen's recommendations of a mlperf_log_summary.txt."""
    found: dict[str, list[str]] = {"checks": [], "advice": [], "early": []}
    state = "before"
    for line in summary.splitlines():
        text = line.strip()
        if state == "before":
            if text.startswith("Result is") and text.split(":", 1)[-1].strip() == "INVALID":
                state = "checks"
        elif not text or text.startswith("="):
            break
        elif text.startswith(("Recommendations", "Early Stopping Result")):
            state = "advice" if text.startswith("Recommendations") else "early"
        elif state == "checks" and line[:1].isspace():
            name, _, value = text.rpartition(":")
            if value.strip().upper() == "NO":
                found["checks"].append(name.strip())
        elif text.startswith("*"):
            found[state].append(text.lstrip("* ").strip())
        elif line[:1].isspace() and found[state]:
            found[state][-1] += " " + text
        else:
            break
    early_failed = any("early stopping" in c.lower() for c in found["checks"])
    return InvalidReason(
        unmet=tuple(found["checks"]),
        recommendations=tuple(found["advice"]),
        early_stopping=tuple(found["early"]) if early_failed else (),
    )


def read_reason(folder: Path) -> InvalidReason:
    try:
        return invalid_reason((folder / SUMMARY).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return InvalidReason(unmet=(), recommendations=())


def invalid_error(
    invalid: list[dict[str, Any]], folders: list[Path], results: list[dict[str, Any]]
) -> InvalidRunError:
    """The error of INVALID runs: which, LoadGen's reason (`why`), the settings to change."""
    whys, hints, found = [], [], []
    for doc, folder in zip(invalid, folders, strict=True):
        scenario = str(doc.get("scenario"))
        reason = read_reason(folder)
        said = [f"{u}: NO" for u in reason.unmet]
        said += [*reason.recommendations, *(f"early stopping: {e}" for e in reason.early_stopping)]
        repeats = doc.get("repeats")
        if not isinstance(repeats, list):
            repeats = []
        failed = [i + 1 for i, r in enumerate(repeats) if r.get("valid") is not True]
        if failed:  # the folder holds the median repeat's logs, which may be a valid one
            said.insert(0, f"repeat {', '.join(map(str, failed))} of {len(repeats)} INVALID")
        whys.append(f"{scenario}: " + ("; ".join(said) or f"see {folder / SUMMARY}"))
        hints.append(fix_hint(scenario, reason, doc))
        found.append(
            {
                "scenario": scenario,
                "unmet": list(reason.unmet),
                "recommendations": list(reason.recommendations),
                "early_stopping": list(reason.early_stopping),
                "summary": str(folder / SUMMARY),
            }
        )
    names = ", ".join(str(d.get("scenario")) for d in invalid)
    runs = "run" if len(invalid) == 1 else "runs"
    return InvalidRunError(
        f"LoadGen marked the {names} performance {runs} INVALID",
        where=str(folders[0] / SUMMARY),
        why="\n".join(whys),
        hint="; ".join(dict.fromkeys(hints))
        + " (the results are written; --allow-invalid accepts them with exit 0)",
        details={"results": results, "invalid": found},
        results=results,
    )


def fix_hint(scenario: str, reason: InvalidReason, doc: Mapping[str, Any]) -> str:
    """The `--set` that most likely makes the run valid, from LoadGen's unmet constraints and
    what this run measured."""
    sps = _number(doc.get("samples_per_second"))
    p90 = _number((doc.get("latency_ns") or {}).get("p90"))
    settings = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
    qps = _number((settings or {}).get("target_qps"))
    unmet = " ".join(reason.unmet).lower()
    if "performance constraints" in unmet:
        return f"lower the load: --set {scenario}.target_qps={_nice((qps or sps or 2.0) / 2)}"
    if "min duration" in unmet and scenario in ("SingleStream", "MultiStream") and p90:
        return (
            f"tell LoadGen the latency to expect (this run: p90 {p90 / 1e6:.3g} ms): "
            f"--set {scenario}.target_latency={_nice(p90 / 1e6)}"
        )
    if "min duration" in unmet and sps:
        return (
            f"tell LoadGen the throughput to expect (this run: {sps:,.0f} samples/s): "
            f"--set {scenario}.target_qps={_nice(sps * 1.5)}"
        )
    if "min queries" in unmet:
        return (
            "ask for fewer queries or allow a longer run: "
            "--set min_query_count=… or --set max_duration=… (milliseconds)"
        )
    needed = reason.queries_needed()
    if needed:
        return f"run more queries: --set {scenario}.min_query_count={_nice(needed * 1.2, up=True)}"
    duration = _number((settings or {}).get("min_duration"))
    longer = _nice(duration * 2, up=True) if duration else "…"
    return f"run longer: --set min_duration={longer} (milliseconds)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def _nice(value: float, *, up: bool = False) -> str:
    """Two significant digits: 478263.0 -> 480000, 0.0105 -> 0.011 (`up`: never less)."""
    if value <= 0:
        return "1"
    digits = 1 - math.floor(math.log10(value))
    rounded = math.ceil(value * 10**digits) / 10**digits if up else round(value, digits)
    return f"{rounded:.0f}" if digits <= 0 else f"{rounded:.{digits}f}"
