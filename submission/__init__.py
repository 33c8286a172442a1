"""The MLPerf inference submission tree from recorded runs (CONTRACTS §14): the systems JSON,
measurements, truncated accuracy logs with their hash lines, the model mapping, `src/`, and
mlenv's own checks of a tree.

It imports only the core and `mlenv.resultsdb`: it runs no benchmark and calls no network.
"""

from __future__ import annotations

from .check import check_tree
from .errors import SubmissionError
from .rules import DIVISIONS, ROUND
from .select import Entry
from .systems import SystemDescription
from .tree import Built, Plan, write

__all__ = [
    "DIVISIONS",
    "ROUND",
    "Built",
    "Entry",
    "Plan",
    "SubmissionError",
    "SystemDescription",
    "check_tree",
    "write",
]
