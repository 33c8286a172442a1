"""`mlenv explore`: a sweep file's points, measured into the results database.

Points already recorded are skipped (a point `ok` with every measurement present, a `failed`
one unless `retry_failed`); a point recorded only in part (a sweep killed during it) measures
just what is missing. Each run is recorded the moment it is measured, in its own transaction,
so an interrupted sweep resumes with no duplicate and nothing lost.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import UsageError
from mlenv.ops import explore as op
from mlenv.ops.pack import PackResult, pack
from mlenv.ops.project import Project
from mlenv.reporter import NullReporter, Reporter

from .executor import Executor
from .local import Job, LocalExecutor
from .points import (
    POINT_FILE,
    Point,
    check_points,
    expand,
    measurements,
    point_dir,
    write_point,
)
from .progress import Observer, Progress, eta
from .sweep import LoadedSweep, load_sweep

EXECUTORS = ("local", "ray")


@dataclass(frozen=True, slots=True, kw_only=True)
class PointOutcome:
    """What became of one point: planned (dry run), ok, failed, or skipped (recorded before)."""

    id: str
    parameters: dict[str, Any]
    status: str  # planned | ok | failed | skipped
    runs: int = 0  # measurements recorded by this call
    stage: str | None = None  # where it failed
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parameters": self.parameters,
            "status": self.status,
            "runs": self.runs,
            "stage": self.stage,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ExploreResult:
    sweep: str
    path: str
    results: str | None  # the database URL (None on a dry run)
    executor: str
    dry_run: bool
    points: tuple[PointOutcome, ...] = field(default=())

    def count(self, status: str) -> int:
        return sum(1 for p in self.points if p.status == status)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "path": self.path,
            "results": self.results,
            "executor": self.executor,
            "dry_run": self.dry_run,
            "counts": {s: self.count(s) for s in ("planned", "ok", "failed", "skipped")},
            "points": [p.to_dict() for p in self.points],
        }


def results_url(loaded: LoadedSweep, results: str | None, environ: Mapping[str, str]) -> str:
    """`--results`, else MLENV_RESULTS, else `sqlite:///<sweep dir>/.mlenv/results.db`."""
    if results:
        return results
    if environ.get("MLENV_RESULTS"):
        return environ["MLENV_RESULTS"]
    from mlenv.resultsdb import default_url

    return default_url(loaded.folder)


def explore(
    path: str | os.PathLike[str],
    *,
    results: str | None = None,
    executor: str = "local",
    retry_failed: bool = False,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    offline: bool = False,
    observer: Observer | None = None,
    ray_address: str | None = None,
) -> ExploreResult:
    """Measure every point of the sweep file at `path` not yet recorded (CONTRACTS §12);
    `observer` gets a `Progress` snapshot as each point starts and ends. An optuna search
    measures the `points` its sampler picks; a dry run of it lists the whole space.
    `executor="ray"` measures on the Ray cluster at `ray_address` (else RAY_ADDRESS)."""
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}", hint="one of local, ray")
    loaded = load_sweep(Path(path))
    points = expand(loaded)
    check_points(points, loaded)
    summary = {"sweep": loaded.sweep.name, "path": str(loaded.path), "executor": executor}
    if dry_run:
        planned = tuple(
            PointOutcome(id=p.id, parameters=dict(p.parameters), status="planned") for p in points
        )
        return ExploreResult(**summary, results=None, dry_run=True, points=planned)
    env = dict(os.environ if environ is None else environ)
    base = Project(
        manifest_path=loaded.base_path,
        environ=env,
        reporter=reporter or NullReporter(),
        offline=offline,
    )
    url = results_url(loaded, results, env)
    runner = _executor(executor, base, ray_address)
    try:
        outcomes = _run(
            loaded, points, base, url, runner, retry_failed=retry_failed, observer=observer
        )
    finally:
        close = getattr(runner, "close", None)
        if close is not None:
            close()
    return ExploreResult(**summary, results=url, dry_run=False, points=outcomes)


def pack_point(
    path: str | os.PathLike[str],
    point: str,
    *,
    output: Path | None = None,
    environ: Mapping[str, str] | None = None,
    reporter: Reporter | None = None,
    offline: bool = False,
) -> PackResult:
    """The `mlenv pack` bundle of one measured point of the sweep at `path` (its id, or a
    unique prefix of it): its manifest, lock, recipes, files and results, installable and
    re-runnable anywhere. Default output: `<sweep dir>/<sweep>-<id[:12]>.mlenv.tar`."""
    loaded = load_sweep(Path(path))
    folder = find_point(loaded, point)
    if not (folder / "mlenv.lock").is_file():
        raise UsageError(
            f"point {folder.name[:12]} of sweep {loaded.sweep.name} has no lock yet",
            where=str(folder),
            why="it was not resolved (its sweep stopped before it, or it failed to resolve)",
            hint=f"run `mlenv explore {loaded.path.name}` first; "
            "`mlenv results show POINT` says why a point failed",
        )
    target = _point_target(folder)
    project = Project(
        manifest_path=folder / "mlenv.yaml",
        environ=dict(os.environ if environ is None else environ),
        reporter=reporter or NullReporter(),
        offline=offline,
    )
    out = output or loaded.folder / f"{loaded.sweep.name}-{folder.name[:12]}.mlenv.tar"
    return pack(project, output=out, target=target, frozen=True)


def find_point(loaded: LoadedSweep, point: str) -> Path:
    """The folder of the sweep's point whose id is `point` or starts with it."""
    wanted = point.strip().removeprefix("sha256:")
    root = loaded.root / "points"
    found = sorted(
        p
        for p in (root.iterdir() if root.is_dir() else ())
        if wanted and p.name.startswith(wanted) and (p / "mlenv.yaml").is_file()
    )
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"{wanted!r} names {len(found)} points of sweep {loaded.sweep.name}",
            why="matching: " + ", ".join(p.name[:16] for p in found[:8]),
            hint="give more of the id",
        )
    raise UsageError(
        f"no point {wanted!r} in sweep {loaded.sweep.name}",
        where=str(root),
        hint=f"`mlenv explore {loaded.path.name} --dry-run` lists its points and their ids; "
        "a point has a folder once the sweep has reached it",
    )


def _point_target(folder: Path) -> str | None:
    try:
        about = json.loads((folder / POINT_FILE).read_text(encoding="utf-8"))
        target = about.get("parameters", {}).get("target")
    except (OSError, ValueError, AttributeError):
        return None
    return str(target) if target is not None else None


def _executor(name: str, base: Project, ray_address: str | None) -> Executor:
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(base, ray_address)
    if ray_address:
        raise UsageError("--ray-address goes with --executor ray", hint="add --executor ray")
    return LocalExecutor(base)


def _run(
    loaded: LoadedSweep,
    points: list[Point],
    base: Project,
    url: str,
    executor: Executor,
    *,
    retry_failed: bool,
    observer: Observer | None = None,
) -> tuple[PointOutcome, ...]:
    from mlenv.resultsdb import ResultsDB

    search = None
    if loaded.sweep.search.kind == "optuna":
        from .optuna_search import OptunaSearch

        search = OptunaSearch(loaded.sweep, points)
    db = ResultsDB.open(url)
    try:
        db.ensure_sweep(loaded.sweep.name, loaded.sweep.to_dict())
        total = search.total if search is not None else len(points)
        sink = _Recorder(db, loaded, base.reporter, total=total, observer=observer)
        options = {"profile": loaded.sweep.profile, "repeat": loaded.sweep.repeat}
        for name in op.unsupported(options):
            base.reporter.warn(f"this mlenv cannot pass `{name}` to a run yet; ignored")
        if search is not None:
            points = _run_optuna(search, sink, executor, options, retry_failed)
            return tuple(sink.outcomes[p.id] for p in points)
        jobs = sink.plan(points, retry_failed=retry_failed)
        executor.run([sink.job(p, s, options) for p, s in jobs], sink)
        return tuple(sink.outcomes[p.id] for p in points)
    finally:
        db.close()


def _run_optuna(
    search: Any, sink: _Recorder, executor: Executor, options: Any, retry_failed: bool
) -> list[Point]:
    """The optuna search's points, each measured (or found recorded) before the next is
    asked for, and told the objectives its recorded runs give."""
    from .optuna_search import values_of

    def measure(point: Point) -> Any:
        for job_point, skip in sink.plan([point], retry_failed=retry_failed, quiet=True):
            executor.run_one(sink.job(job_point, skip, options), sink)
        if sink.outcomes[point.id].status == "failed" or sink.db.point_status(point.id) == "failed":
            return None
        rows = [r for r in sink.db.runs() if r.point_id == point.id]
        return values_of(rows, search.keys)

    return search.run(measure)


class _Recorder:
    """The sink of the executor: records every outcome at once, and reports progress."""

    def __init__(
        self,
        db: Any,
        loaded: LoadedSweep,
        reporter: Reporter,
        *,
        total: int,
        observer: Observer | None = None,
    ) -> None:
        self.db = db
        self.observer = observer
        self.loaded = loaded
        self.reporter = reporter
        self.total = total
        self.outcomes: dict[str, PointOutcome] = {}
        self.recorded: set[str] = set()  # points recorded by this call
        self.runs: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.spent: list[float] = []
        self.failures: dict[str, tuple[str, str]] = {}

    def plan(
        self, points: list[Point], *, retry_failed: bool, quiet: bool = False
    ) -> list[tuple[Point, tuple]]:
        """The points to measure, each with the measurements already recorded."""
        done: dict[str, set[tuple[str, str]]] = {}
        for row in self.db.runs():  # a point is a point, whichever sweep measured it
            if row.status == "ok" and row.scenario and row.mode:
                done.setdefault(row.point_id, set()).add((row.scenario, row.mode))
        jobs = []
        failed_before: dict[str, bool] = {}
        for point in points:
            status = self.db.point_status(point.id)
            failed_before[point.id] = status == "failed"
            have = done.get(point.id, set())
            wanted = list(measurements(self.loaded, point))
            if (status == "failed" and not retry_failed) or (
                status == "ok" and all(m in have for m in wanted)
            ):
                self.outcomes[point.id] = PointOutcome(
                    id=point.id, parameters=dict(point.parameters), status="skipped"
                )
                self._list_point(point)  # measured before, perhaps by another sweep
                continue
            jobs.append((point, tuple(sorted(have))))
        self._observe()
        if len(jobs) < len(points) and not quiet:
            failed = sum(1 for p in points if p.id in self.outcomes and failed_before[p.id])
            self.reporter.info(
                f"{len(points) - len(jobs)} of {len(points)} points already recorded: skipped"
                + (f" ({failed} failed; --retry-failed measures them again)" if failed else "")
            )
        return jobs

    def job(self, point: Point, skip: tuple, options: Mapping[str, Any]) -> Job:
        request = op.PointRequest(
            manifest_path=write_point(self.loaded, point),
            envs_root=self.loaded.root / "envs",
            target=point.target,
            measurements=tuple(measurements(self.loaded, point)),
            options=options,
        )
        self.started[point.id] = time.monotonic()
        return Job(point=point, request=request, skip=skip)

    def starting(self, job: Job) -> None:
        self.started[job.point.id] = time.monotonic()
        self._observe(job.point)

    def _counts(self) -> tuple[int, int, int]:
        done = sum(1 for o in self.outcomes.values() if o.status in ("ok", "skipped"))
        failed = sum(1 for o in self.outcomes.values() if o.status == "failed")
        return done, failed, max(self.total - done - failed, 0)

    def _observe(self, running: Point | None = None, last: str | None = None) -> None:
        if self.observer is None:
            return
        done, failed, left = self._counts()
        self.observer(
            Progress(
                sweep=self.loaded.sweep.name,
                total=self.total,
                done=done,
                failed=failed,
                running=running.short if running is not None else None,
                parameters=running.parameters if running is not None else (),
                eta=eta(self.spent, left),
                last=last,
            )
        )

    def _list_point(self, point: Point) -> None:
        write_point(self.loaded, point)
        self._record_point(point, None, point.target)

    def _record_point(self, point: Point, lock: str | None, target: str | None) -> None:
        manifest = (point_dir(self.loaded, point) / "mlenv.yaml").read_text(encoding="utf-8")
        self.db.record_point(
            point.id,
            sweep=self.loaded.sweep.name,
            parameters=dict(point.parameters),
            manifest=manifest,
            lock=lock,
            target=target,
        )
        self.recorded.add(point.id)

    def prepared(self, job: Job, prepared: op.Prepared) -> None:
        self.started[job.point.id] = time.monotonic()
        self._record_point(job.point, prepared.lock_digest, prepared.section.name)

    def measured(self, job: Job, measured: op.Measured) -> None:
        logs = {
            name: item if isinstance(item, bytes) else item.read_bytes()
            for name, item in measured.logs.items()
        }
        self.db.record_run(job.point.id, measured.result, logs=logs)
        self.runs[job.point.id] = self.runs.get(job.point.id, 0) + 1

    def failed(self, job: Job, failure: op.PointFailure, lock: str | None) -> None:
        if job.point.id not in self.recorded:
            self._record_point(job.point, lock, job.point.target)
        self.db.record_failure(job.point.id, failure.error.to_dict(), stage=failure.stage)
        self.failures[job.point.id] = (failure.stage, failure.error.message)

    def finished(self, job: Job, ok: bool, runs: int) -> None:
        point = job.point
        seconds = time.monotonic() - self.started.get(point.id, time.monotonic())
        self.spent.append(seconds)
        self.outcomes[point.id] = PointOutcome(
            id=point.id,
            parameters=dict(point.parameters),
            status="ok" if ok else "failed",
            runs=self.runs.get(point.id, 0),
            seconds=seconds,
            stage=None if ok else self.failures[point.id][0],
            error=None if ok else self.failures[point.id][1],
        )
        line = self._progress_line(self.outcomes[point.id], point)
        self.reporter.info(line)
        self._observe(last=line)

    def _progress_line(self, outcome: PointOutcome, point: Point) -> str:
        done, failed, left = self._counts()
        eta_s = eta(self.spent, left) or 0.0
        what = (
            f"ok, {outcome.runs} run{'s' if outcome.runs != 1 else ''}"
            if outcome.status == "ok"
            else f"FAILED at {outcome.stage}: {outcome.error}"
        )
        return (
            f"point {point.short} ({point.label()}): {what} in {outcome.seconds:.1f} s"
            f" · done {done}, failed {failed}, left {left}"
            + (f", ETA {_duration(eta_s)}" if left else "")
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
