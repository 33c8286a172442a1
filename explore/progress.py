"""How a sweep's progress is observed: the driver hands a `Progress` snapshot to an observer
each time a point starts and each time one ends. It renders nothing; the CLI draws a live view
from the snapshots on a terminal (`mlenv.cli.liveview`). The reporter's one line per point is
unchanged, for logs and pipes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """Where a sweep stands."""

    sweep: str
    total: int  # the points of this call (an optuna search: the points it will measure)
    done: int  # ok, or recorded before (skipped)
    failed: int
    running: str | None = None  # the short id of the point being measured
    parameters: tuple[tuple[str, Any], ...] = ()  # of the running point
    eta: float | None = None  # seconds, from the mean time per point measured so far
    last: str | None = None  # the one-line outcome of the last point that ended

    @property
    def left(self) -> int:
        return max(self.total - self.done - self.failed, 0)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.parameters) or "(the base manifest)"


Observer = Callable[[Progress], None]


def eta(spent: list[float], left: int) -> float | None:
    return (sum(spent) / len(spent)) * left if spent and left else None
