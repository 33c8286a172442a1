"""The local executor: the points of a sweep, one after another, on this machine.

Installs of a point happen before its measurements; measurements never overlap: the points
are taken in turn, and a machine-wide file lock (`MLENV_HOME/measure.lock`) keeps a second
`mlenv explore` (or any other holder) from measuring at the same time. Every outcome goes to
the `Sink` the driver gives (which records it at once), so a killed sweep loses nothing it
had measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlenv.ops import explore as op
from mlenv.ops.locking import held
from mlenv.ops.project import Project

from .points import Point

LOCK_NAME = "measure.lock"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One point to measure: its request, and the measurements already recorded."""

    point: Point
    request: op.PointRequest
    skip: tuple[tuple[str, str], ...] = ()


class Sink(Protocol):
    """Where a point's outcomes go, each as soon as it is known."""

    def starting(self, job: Job) -> None: ...

    def prepared(self, job: Job, prepared: op.Prepared) -> None: ...

    def measured(self, job: Job, measured: op.Measured) -> None: ...

    def failed(self, job: Job, failure: op.PointFailure, lock: str | None) -> None: ...

    def finished(self, job: Job, ok: bool, runs: int) -> None: ...


class LocalExecutor:
    """Runs each job in this process, in order."""

    name = "local"

    def __init__(self, base: Project) -> None:
        self.base = base

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        for job in jobs:
            self.run_one(job, sink)

    def run_one(self, job: Job, sink: Sink) -> None:
        lock: str | None = None
        sink.starting(job)
        try:
            prepared = op.prepare(self.base, job.request)
            lock = prepared.lock_digest
            sink.prepared(job, prepared)
            op.install(prepared)
            with measuring(self.base.home, self.base.reporter.info):
                runs = op.measure(
                    prepared,
                    job.request,
                    skip=job.skip,
                    measured=lambda m: sink.measured(job, m),
                )
        except op.PointFailure as failure:
            sink.failed(job, failure, lock)
            sink.finished(job, False, 0)
            return
        sink.finished(job, True, runs)


def measuring(home: Path, waiting: Callable[[str], None]) -> AbstractContextManager[None]:
    """Hold `MLENV_HOME/measure.lock`: one measurement per machine at a time."""
    path = home / LOCK_NAME
    return held(
        path,
        waiting=waiting,
        busy=f"waiting for another measurement on this machine to end ({path})",
        what="measurement lock",
        hint=f"{home} must be a folder you can write to (MLENV_HOME)",
    )
