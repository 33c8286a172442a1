"""The SQL side of the results database: URLs, engines (SQLite in WAL mode with a busy
timeout and its write lock taken at BEGIN; PostgreSQL through psycopg), the idempotent writes
(insert unless present) and the diagnostics for database errors."""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from . import schema as S
from .errors import ResultsDBError

_BUSY_SECONDS = 60


def default_url(folder: Path) -> str:
    """The database beside a sweep file or manifest: `sqlite:///<folder>/.mlenv/results.db`."""
    return f"sqlite:///{(Path(folder).absolute() / '.mlenv' / 'results.db').as_posix()}"


def safe_url(url: str) -> str:
    """The URL with any password hidden (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def engine_for(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ResultsDBError(
            f"{url!r} is not a database URL",
            where="--results / MLENV_RESULTS",
            hint="e.g. sqlite:///path/results.db or postgresql+psycopg://user@host:5432/db",
        ) from e
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ResultsDBError(
            f"results databases are SQLite or PostgreSQL, not {backend}",
            where=safe_url(url),
            hint="use sqlite:///PATH or postgresql+psycopg://user@host:port/db",
        )
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, parsed.database)
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as e:
        raise ResultsDBError(
            f"no database driver for {parsed.drivername}",
            where=safe_url(url),
            why=str(e),
            hint="for PostgreSQL: pip install 'mlenv[postgres]' and use postgresql+psycopg://…",
        ) from e


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now: writers queue, not fail

    return engine


def insert_new(conn: Connection, table: Any, **values: Any) -> bool:
    """Insert unless a row with that primary key exists; True when inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
        returned = conn.execute(statement.returning(*table.primary_key.columns))
        return returned.first() is not None  # (rowcount says 1 here even when nothing was)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(statement).rowcount)


def fill_in(conn: Connection, point_id: str, **values: str | None) -> None:
    p = S.points
    for name, value in values.items():
        if value:
            column = p.c[name]
            empty = column.is_(None) if name != "manifest" else column == ""
            conn.execute(update(p).where(p.c.point_id == point_id, empty).values({name: value}))


def insert_run(
    conn: Connection,
    point_id: str,
    result: Mapping[str, Any],
    logs: Mapping[str, bytes],
    origin: str,
) -> str:
    text = canonical(result)
    doc_sha = hashlib.sha256(text.encode()).hexdigest()
    key = "\0".join([point_id, str(result.get("scenario")), str(result.get("mode")), doc_sha])
    run_id = hashlib.sha256(key.encode()).hexdigest()[:16]
    valid = result.get("valid")
    inserted = insert_new(
        conn,
        S.runs,
        run_id=run_id,
        point_id=point_id,
        status="ok",
        benchmark=_str(result.get("benchmark")),
        dataset=_str(result.get("dataset")),
        scenario=_str(result.get("scenario")),
        mode=_str(result.get("mode")),
        valid=valid if isinstance(valid, bool) else None,
        samples_per_second=_float(result.get("samples_per_second")),
        document=json.loads(text),
        document_sha256=doc_sha,
        origin=origin,
        recorded_at=now(),
    )
    if inserted:
        for name, data in sorted(logs.items()):
            sha = hashlib.sha256(data).hexdigest()
            compressed = zlib.compress(data, 6)
            insert_new(conn, S.logs, sha256=sha, size=len(data), encoding="zlib", data=compressed)
            insert_new(conn, S.run_logs, run_id=run_id, name=name, sha256=sha)
    return run_id


def db_error(e: SQLAlchemyError, url: str) -> ResultsDBError:
    original = getattr(e, "orig", None) if isinstance(e, DBAPIError) else None
    why = str(original or e).strip().splitlines()[0] if str(original or e).strip() else repr(e)
    return ResultsDBError(
        "the results database could not be read or written",
        where=safe_url(url),
        why=why,
        hint="check that the database is reachable and writable (for PostgreSQL: the server, "
        "the user and the database in the URL)",
    )


def now() -> float:
    return time.time()


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
