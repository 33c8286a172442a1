"""What every executor of a sweep is: it takes the jobs (points to measure) and a `Sink`, and
hands each outcome to the sink, on the driver, as soon as it is known. `LocalExecutor`
(`explore/local.py`) measures on this machine; `RayExecutor` (`explore/ray_executor.py`, the
optional `mlenv[ray]` extra) on the nodes of a Ray cluster. Neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .local import Job, Sink

__all__ = ["Executor", "Job", "Sink"]


class Executor(Protocol):
    """Runs jobs, reporting every outcome to the sink (in this process)."""

    name: str

    def run(self, jobs: Sequence[Job], sink: Sink) -> None: ...

    def run_one(self, job: Job, sink: Sink) -> None: ...
