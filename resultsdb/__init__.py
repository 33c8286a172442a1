"""The results database (CONTRACTS §13): sweeps, points (parameters, derived manifest, lock
digest), runs (every result.json field, LoadGen logs kept by sha256) and failed points, over
SQLAlchemy — SQLite by default, PostgreSQL by URL. Records in, queries out; nothing else touches
the tables, and nothing is ever deleted (the Pareto front is a query).

It imports only the core: it runs nothing and reads no environment variables.
"""

from __future__ import annotations

from .errors import ResultsDBError
from .pareto import Group
from .rows import COLUMNS, PointRow, RunRow, lookup
from .schema import SCHEMA_VERSION
from .store import ResultsDB, default_url, safe_url

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Group",
    "PointRow",
    "ResultsDB",
    "ResultsDBError",
    "RunRow",
    "default_url",
    "lookup",
    "safe_url",
]
