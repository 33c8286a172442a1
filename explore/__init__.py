"""Design-space exploration (CONTRACTS §12): sweep files, their points, the executors and
`explore`, which measures the points into the results database (`mlenv.resultsdb`).

Imports core, `mlenv.ops` and `mlenv.resultsdb`; never `mlenv.cli`.
"""

from .driver import ExploreResult, PointOutcome, explore, pack_point
from .points import Point, expand
from .sweep import SWEEP, LoadedSweep, Sweep, load_sweep

__all__ = [
    "SWEEP",
    "ExploreResult",
    "LoadedSweep",
    "Point",
    "PointOutcome",
    "Sweep",
    "expand",
    "explore",
    "load_sweep",
    "pack_point",
]
