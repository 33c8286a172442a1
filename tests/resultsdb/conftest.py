"""Fixtures for the results database: a real PostgreSQL server (started once per session from
PostgreSQL 15's initdb/pg_ctl on 127.0.0.1, stopped at the end; skipped with the reason where it
cannot start) and `url`, each store test run against SQLite and against PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pg
import pytest


@pytest.fixture
def pg_url(postgres: pg.PgServer) -> str:
    """A fresh, empty PostgreSQL database."""
    return postgres.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: Any, tmp_path: Path) -> str:
    """A new results database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return str(request.getfixturevalue("pg_url"))
