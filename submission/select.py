"""Which recorded runs go into a submission, and the refusals: a performance run needs its
point's accuracy run of the same scenario; INVALID runs are refused always (the official
checker accepts them, so mlenv must not), subsets and runs not made under the `submission`
profile unless it is a test submission."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlenv.errors import Problem
from mlenv.resultsdb import RunRow

from . import rules
from .errors import SubmissionError
from .rules import compliance_tests


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One benchmark and scenario of the tree: a performance run and its accuracy run."""

    performance: RunRow
    accuracy: RunRow
    compliance: Mapping[str, RunRow] = field(default_factory=dict)  # TEST01/TEST04 -> its run

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.performance.point_id, str(self.benchmark), str(self.scenario))

    @property
    def benchmark(self) -> str:
        return str(self.performance.benchmark)

    @property
    def scenario(self) -> str:
        return str(self.performance.scenario)


def _ok(rows: Sequence[RunRow]) -> list[RunRow]:
    return [r for r in rows if r.status == "ok" and not r.document.get("compliance")]


def companion(rows: Sequence[RunRow], run: RunRow, mode: str) -> RunRow | None:
    """The latest run of `mode` of the same point, benchmark and scenario."""
    found = [
        r
        for r in _ok(rows)
        if r.point_id == run.point_id
        and r.mode == mode
        and r.scenario == run.scenario
        and r.benchmark == run.benchmark
    ]
    return found[-1] if found else None


def audit_test(run: RunRow) -> str | None:
    """The compliance test a run is (TEST01, TEST04), or None for a plain run."""
    audit = run.document.get("compliance")
    test = audit.get("test") if isinstance(audit, Mapping) else None
    return test if isinstance(test, str) else None


def compliance_runs(rows: Sequence[RunRow], run: RunRow) -> dict[str, RunRow]:
    """The latest compliance run of each test of the same point, benchmark and scenario."""
    found: dict[str, RunRow] = {}
    for r in rows:
        test = audit_test(r)
        if (
            test is not None
            and r.status == "ok"
            and r.point_id == run.point_id
            and r.scenario == run.scenario
            and r.benchmark == run.benchmark
        ):
            found[test] = r
    return found


def latest_performance(rows: Sequence[RunRow]) -> list[RunRow]:
    """The latest performance run of each point, benchmark and scenario."""
    latest: dict[tuple[str, str | None, str | None], RunRow] = {}
    for r in _ok(rows):
        if r.mode == "performance":
            latest[(r.point_id, r.benchmark, r.scenario)] = r
    return list(latest.values())


def pair(rows: Sequence[RunRow], chosen: Sequence[RunRow]) -> tuple[list[Entry], list[Problem]]:
    """Each chosen run (performance or accuracy) with its companion; duplicates once."""
    entries: dict[tuple[str, str, str], Entry] = {}
    problems = []
    for run in chosen:
        if run.status != "ok":
            problems.append(Problem(where=f"run {run.run_id}", message="is a failed point"))
            continue
        if audit_test(run) is not None:
            continue  # a compliance run goes in with its scenario's performance run
        other = "accuracy" if run.mode == "performance" else "performance"
        found = companion(rows, run, other)
        if found is None:
            problems.append(
                Problem(
                    where=f"run {run.run_id}",
                    message=f"{run.benchmark} {run.scenario}: no {other} run of its point "
                    f"({run.point_id[:16]}) is recorded",
                )
            )
            continue
        perf, acc = (run, found) if run.mode == "performance" else (found, run)
        entry = Entry(performance=perf, accuracy=acc, compliance=compliance_runs(rows, perf))
        entries.setdefault(entry.key, entry)
    return list(entries.values()), problems


def refusals(
    entries: Sequence[Entry], dataset_samples: Mapping[str, int], *, test: bool
) -> list[Problem]:
    """Why each entry may not be submitted (empty: all may)."""
    problems = []
    for e in entries:
        perf, where = e.performance.document, f"run {e.performance.run_id}"
        if perf.get("valid") is not True or any(
            r.get("valid") is False for r in perf.get("repeats") or [] if isinstance(r, dict)
        ):
            problems.append(
                Problem(
                    where=where,
                    message=f"{e.benchmark} {e.scenario}: LoadGen marked the performance run "
                    "INVALID",
                )
            )
        if test:
            continue
        if perf.get("profile") != "submission":
            problems.append(
                Problem(
                    where=where,
                    message=f"{e.benchmark} {e.scenario}: measured under the "
                    f"{perf.get('profile') or 'unknown'!s} profile, not submission",
                )
            )
        problem = _shortened(e.performance)
        if problem:
            problems.append(Problem(where=where, message=f"{e.benchmark} {e.scenario}: {problem}"))
        for run in (e.performance, e.accuracy):
            problem = _subset(run, dataset_samples)
            if problem:
                problems.append(Problem(where=f"run {run.run_id}", message=problem))
    return problems


def _shortened(run: RunRow) -> str | None:
    """A performance run whose settings lowered LoadGen's minimum duration below MLPerf's."""
    settings = run.document.get("settings")
    lowered = settings.get("min_duration") if isinstance(settings, Mapping) else None
    least = rules.MIN_DURATION_MS
    if isinstance(lowered, int | float) and lowered < least:
        return (
            f"min_duration was lowered to {lowered:g} ms; MLPerf needs at least {least} ms "
            "(drop min_duration from the manifest's settings and from --set)"
        )
    return None


def _subset(run: RunRow, dataset_samples: Mapping[str, int]) -> str | None:
    used, dataset = run.document.get("samples"), str(run.dataset)
    full = dataset_samples.get(dataset)
    if full is None:
        return f"the size of dataset {dataset} is unknown, so a subset cannot be ruled out"
    if not isinstance(used, int) or used < full:
        return f"{run.mode} run on a subset: {used} of the {full} samples of {dataset}"
    return None


def compliance_refusals(
    entries: Sequence[Entry], closed: Mapping[str, str], *, test: bool
) -> list[Problem]:
    """The closed division's audit tests each entry lacks or failed (`closed`: benchmark ->
    its closed-division model). A test submission may lack them."""
    if test:
        return []
    problems = []
    for e in entries:
        for name in compliance_tests(closed[e.benchmark]):
            run = e.compliance.get(name)
            where = f"run {e.performance.run_id}"
            if run is None:
                problems.append(
                    Problem(
                        where=where,
                        message=f"{e.benchmark} {e.scenario}: the closed division needs a "
                        f"{name} compliance run (`mlenv run --scenario {e.scenario} "
                        f"--compliance {name}`)",
                    )
                )
            elif not _passed(run):
                problems.append(
                    Problem(
                        where=f"run {run.run_id}",
                        message=f"{e.benchmark} {e.scenario}: compliance test {name} FAILED",
                    )
                )
    return problems


def _passed(run: RunRow) -> bool:
    audit = run.document.get("compliance")
    return isinstance(audit, Mapping) and audit.get("pass") is True


def refuse(problems: Sequence[Problem], *, test: bool) -> None:
    if not problems:
        return
    audits = any("compliance" in p.message for p in problems)
    raise SubmissionError(
        f"{len(problems)} problem(s) with the runs chosen for the submission",
        problems=problems,
        why="MLPerf accepts only VALID runs on the whole dataset; mlenv also asks for the "
        "submission profile (10-minute runs, LoadGen's mlperf.conf rules)"
        + (
            "; the closed division also needs passing audit tests (TEST01, TEST04)"
            if audits
            else ""
        ),
        hint="measure again with `mlenv run --profile submission`"
        + (
            " --compliance TEST01 --compliance TEST04 (the tests each problem names)"
            if audits
            else ""
        )
        + ("" if test else ", or pass --test for a test submission that is not for MLPerf"),
    )
