"""The local executor: the points of a sweep, one after another, on this machine.

Installs of a point happen before its measurements; measurements never overlap: the points
are taken in turn, and a machine-wide file lock (`MLENV_HOME/measure.lock`) keeps a second
`mlenv explore` (or any other holder) from measuring at the same time. Every outcome goes to
the `Sink` the driver gives (which records it at once), so a killed sweep loses nothing it
had measured.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlenv.errors import MlenvError
from mlenv.ops import explore as op
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


@contextlib.contextmanager
def measuring(home: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold `MLENV_HOME/measure.lock` (released by the kernel when the process ends)."""
    path = home / LOCK_NAME
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise MlenvError(
            f"cannot take the measurement lock {path}",
            why=e.strerror or str(e),
            hint=f"{home} must be a folder you can write to (MLENV_HOME)",
        ) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(f"waiting for another measurement on this machine to end ({path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
