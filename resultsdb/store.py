"""`ResultsDB`: records in, queries out, over SQLAlchemy (SQLite by default, PostgreSQL by URL).

Every write is one transaction, so a killed process leaves no half-written run. SQLite runs in
WAL mode with a busy timeout and takes its write lock when a transaction begins, so concurrent
writers wait for each other instead of failing. A run's id is derived from its natural key
(point, scenario, mode and the sha256 of its result document): recording it twice is a no-op.
Nothing is ever deleted.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from . import schema as S
from .errors import ResultsDBError
from .pareto import Group, groups
from .rows import PointRow, RunRow, matches
from .sql import (
    canonical,
    db_error,
    default_url,
    engine_for,
    fill_in,
    insert_new,
    insert_run,
    now,
    safe_url,
)

__all__ = ["ResultsDB", "canonical", "default_url", "safe_url"]

EMPTY: Mapping[str, Any] = {}


class ResultsDB:
    """The results database at one URL (see `open`)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> ResultsDB:
        """`sqlite:///PATH` (its folder is created) or `postgresql+psycopg://user@host:port/db`;
        the schema is created on first use and its version checked."""
        engine = engine_for(url)
        db = cls(engine, url)
        try:
            db._prepare()
        except BaseException:
            engine.dispose()
            raise
        return db

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self) -> None:
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # two first users at once: one creates
                conn.execute(text("SELECT pg_advisory_xact_lock(7215)"))
            S.metadata.create_all(conn)
            found = conn.execute(
                select(S.meta.c.value).where(S.meta.c.key == "schema_version")
            ).scalar()
            if found is None:
                conn.execute(
                    S.meta.insert().values(key="schema_version", value=str(S.SCHEMA_VERSION))
                )
                return
        version = int(found) if str(found).isdigit() else -1
        if version != S.SCHEMA_VERSION:
            raise ResultsDBError(
                f"the results database has schema version {found}; this mlenv knows version "
                f"{S.SCHEMA_VERSION}",
                where=safe_url(self.url),
                why="it was written by a newer mlenv"
                if version > S.SCHEMA_VERSION
                else "its schema version is not one mlenv wrote",
                hint="upgrade mlenv (`pip install -U mlenv`), or pass --results with another "
                "database; mlenv never alters a schema it does not know",
            )

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except ResultsDBError:
            raise
        except SQLAlchemyError as e:
            raise db_error(e, self.url) from e

    # -- records in --------------------------------------------------------------------------

    def ensure_sweep(self, name: str, definition: Mapping[str, Any]) -> None:
        """Record a sweep (its definition is kept as first recorded)."""
        with self._write() as conn:
            insert_new(conn, S.sweeps, name=name, definition=dict(definition), created_at=now())

    def record_point(
        self,
        point_id: str,
        *,
        sweep: str | None,
        parameters: Mapping[str, Any],
        manifest: str,
        lock: str | None,
        target: str | None,
        origin: str = "mlenv",
    ) -> None:
        """A point (idempotent: recorded again, it keeps what it has and gains only the lock,
        target or manifest it lacked); with `sweep`, the point is listed under it (the sweep is
        created with an empty definition when `ensure_sweep` was not called)."""
        with self._write() as conn:
            inserted = insert_new(
                conn,
                S.points,
                point_id=point_id,
                parameters=dict(parameters),
                manifest=manifest,
                lock=lock,
                target=target,
                origin=origin,
                created_at=now(),
            )
            if not inserted:
                fill_in(conn, point_id, lock=lock, target=target, manifest=manifest)
            if sweep is not None:
                insert_new(conn, S.sweeps, name=sweep, definition={}, created_at=now())
                insert_new(conn, S.sweep_points, sweep=sweep, point_id=point_id, added_at=now())

    def record_run(
        self,
        point_id: str,
        result: Mapping[str, Any],
        *,
        logs: Mapping[str, bytes] = EMPTY,
        origin: str | None = None,
    ) -> str:
        """A result.json document of the point, with its LoadGen logs (name -> bytes, each
        stored once by sha256); returns the run id. The same document twice is one run."""
        return self.record_runs(point_id, [(result, logs)], origin=origin)[0]

    def record_runs(
        self,
        point_id: str,
        results: Sequence[tuple[Mapping[str, Any], Mapping[str, bytes]]],
        *,
        origin: str | None = None,
    ) -> list[str]:
        """Several (result document, logs) of one point in one transaction: all or none."""
        with self._write() as conn:
            point_origin = self._point_origin(conn, point_id)
            return [
                insert_run(conn, point_id, result, logs, origin or point_origin)
                for result, logs in results
            ]

    def record_failure(self, point_id: str, error: Mapping[str, Any], *, stage: str) -> str:
        """A failed attempt at a point (status failed): `error` is {message, where, why, hint}
        and `stage` where it failed. Every attempt is kept; returns its run id."""
        run_id = "f" + uuid.uuid4().hex[:15]
        with self._write() as conn:
            origin = self._point_origin(conn, point_id)
            conn.execute(
                S.runs.insert().values(
                    run_id=run_id,
                    point_id=point_id,
                    status="failed",
                    error={**dict.fromkeys(("message", "where", "why", "hint")), **error},
                    stage=stage,
                    origin=origin,
                    recorded_at=now(),
                )
            )
        return run_id

    def _point_origin(self, conn: Connection, point_id: str) -> str:
        origin = conn.execute(
            select(S.points.c.origin).where(S.points.c.point_id == point_id)
        ).scalar()
        if origin is None:
            raise ResultsDBError(
                f"no point {point_id} in the results database",
                where=safe_url(self.url),
                hint="record the point (ResultsDB.record_point) before its runs",
            )
        return str(origin)

    # -- queries out -------------------------------------------------------------------------

    def point_status(self, point_id: str) -> str | None:
        """ "ok" or "failed" (the point's latest record), None when nothing is recorded."""
        query = (
            select(S.runs.c.status)
            .where(S.runs.c.point_id == point_id)
            .order_by(S.runs.c.recorded_at.desc(), S.runs.c.run_id.desc())
            .limit(1)
        )
        with self._read() as conn:
            found = conn.execute(query).scalar()
        return str(found) if found is not None else None

    def runs(self, *, sweep: str | None = None, where: Mapping[str, str] = EMPTY) -> list[RunRow]:
        """Every run (and failed attempt) in recording order, of one sweep or all;
        `where` keeps those whose field (by dotted path, see `RunRow.value`) reads VALUE."""
        with self._read() as conn:
            rows = self._rows(conn, sweep=sweep)
        return [r for r in rows if matches(r, where)] if where else rows

    def get(self, run_or_point_id: str) -> RunRow | PointRow:
        """A run by id, or a point by id (a unique prefix of either is enough)."""
        wanted = run_or_point_id.strip()
        with self._read() as conn:
            rows = self._rows(conn)
            runs = [r for r in rows if r.run_id == wanted] or [
                r for r in rows if wanted and r.run_id.startswith(wanted)
            ]
            point_ids = self._point_ids(conn, wanted)
            if len(runs) == 1 and not (point_ids and wanted in point_ids):
                return runs[0]
            if len(point_ids) == 1 and not runs:
                return self._point(conn, point_ids[0], rows)
            if wanted in point_ids:
                return self._point(conn, wanted, rows)
        if runs or point_ids:
            names = [r.run_id for r in runs] + point_ids
            raise ResultsDBError(
                f"{wanted!r} names {len(names)} runs or points",
                where=safe_url(self.url),
                why="matching: " + ", ".join(names[:8]) + (" …" if len(names) > 8 else ""),
                hint="give more of the id",
            )
        raise ResultsDBError(
            f"no run or point {wanted!r} in the results database",
            where=safe_url(self.url),
            hint="`mlenv results list` shows the run and point ids",
        )

    def points(self, *, sweep: str | None = None) -> list[PointRow]:
        with self._read() as conn:
            rows = self._rows(conn)
            ids = self._point_ids(conn, "", sweep=sweep)
            return [self._point(conn, pid, rows) for pid in ids]

    def sweeps(self) -> dict[str, dict[str, Any]]:
        """Sweep name -> its definition."""
        with self._read() as conn:
            found = conn.execute(select(S.sweeps.c.name, S.sweeps.c.definition)).all()
        return {str(name): dict(definition or {}) for name, definition in found}

    def log(self, sha256: str) -> bytes:
        """The bytes of a LoadGen log by its sha256 (`RunRow.logs`)."""
        with self._read() as conn:
            found = conn.execute(
                select(S.logs.c.data, S.logs.c.encoding).where(S.logs.c.sha256 == sha256)
            ).first()
        if found is None:
            raise ResultsDBError(f"no log {sha256} in the results database", where=self.url)
        data, encoding = found
        return zlib.decompress(data) if encoding == "zlib" else bytes(data)

    def pareto(
        self,
        *,
        sweep: str | None = None,
        scenario: str | None = None,
        benchmark: str | None = None,
        objectives: Mapping[str, str] | None = None,
        where: Mapping[str, str] = EMPTY,
    ) -> list[RunRow]:
        """The non-dominated runs of each (benchmark, scenario); see `mlenv.resultsdb.pareto`."""
        found = self.pareto_groups(
            sweep=sweep, scenario=scenario, benchmark=benchmark, objectives=objectives, where=where
        )
        return [r for g in found for r in g.front]

    def pareto_groups(
        self,
        *,
        sweep: str | None = None,
        scenario: str | None = None,
        benchmark: str | None = None,
        objectives: Mapping[str, str] | None = None,
        where: Mapping[str, str] = EMPTY,
    ) -> list[Group]:
        """Each (benchmark, scenario) with its candidates, their values and the front."""
        rows = self.runs(sweep=sweep)
        rows = [
            r
            for r in rows
            if (scenario is None or r.scenario == scenario)
            and (benchmark is None or r.benchmark == benchmark)
        ]
        if where:  # filters pick candidates; their companions (accuracy runs) stay available
            keep = {r.run_id for r in rows if matches(r, where)}
            rows = [r for r in rows if r.run_id in keep or r.mode != "performance"]
        return groups(rows, objectives)

    # -- reading rows ------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except ResultsDBError:
            raise
        except SQLAlchemyError as e:
            raise db_error(e, self.url) from e

    def _rows(self, conn: Connection, *, sweep: str | None = None) -> list[RunRow]:
        r, p = S.runs, S.points
        query = (
            select(r, p.c.parameters, p.c.lock, p.c.target)
            .join(p, p.c.point_id == r.c.point_id)
            .order_by(r.c.recorded_at, r.c.run_id)
        )
        if sweep is not None:
            member = select(S.sweep_points.c.point_id).where(S.sweep_points.c.sweep == sweep)
            query = query.where(r.c.point_id.in_(member))
        memberships = self._memberships(conn)
        logs: dict[str, dict[str, str]] = {}
        for run_id, name, sha in conn.execute(select(S.run_logs)).all():
            logs.setdefault(run_id, {})[name] = sha
        out = []
        for m in conn.execute(query).mappings():
            sweeps = memberships.get(m["point_id"], [])
            out.append(
                RunRow(
                    run_id=m["run_id"],
                    point_id=m["point_id"],
                    sweep=sweep if sweep is not None else (sweeps[0] if sweeps else None),
                    status=m["status"],
                    origin=m["origin"],
                    recorded_at=float(m["recorded_at"]),
                    parameters=dict(m["parameters"] or {}),
                    document=dict(m["document"] or {}),
                    error=dict(m["error"]) if m["error"] is not None else None,
                    stage=m["stage"],
                    point_lock=m["lock"],
                    point_target=m["target"],
                    logs=logs.get(m["run_id"], {}),
                )
            )
        return out

    def _memberships(self, conn: Connection) -> dict[str, list[str]]:
        sp = S.sweep_points
        out: dict[str, list[str]] = {}
        for point_id, sweep in conn.execute(
            select(sp.c.point_id, sp.c.sweep).order_by(sp.c.added_at, sp.c.sweep)
        ).all():
            out.setdefault(point_id, []).append(sweep)
        return out

    def _point_ids(self, conn: Connection, prefix: str, *, sweep: str | None = None) -> list[str]:
        p = S.points
        query = select(p.c.point_id).order_by(p.c.created_at, p.c.point_id)
        if sweep is not None:
            member = select(S.sweep_points.c.point_id).where(S.sweep_points.c.sweep == sweep)
            query = query.where(p.c.point_id.in_(member))
        ids = [str(i) for i in conn.execute(query).scalars()]
        if not prefix:
            return ids
        if prefix in ids:
            return [prefix]
        bare = prefix.removeprefix("sha256:")
        return [
            i for i in ids if i.startswith(prefix) or i.removeprefix("sha256:").startswith(bare)
        ]

    def _point(self, conn: Connection, point_id: str, rows: Sequence[RunRow]) -> PointRow:
        m = conn.execute(select(S.points).where(S.points.c.point_id == point_id)).mappings().one()
        runs = tuple(r for r in rows if r.point_id == point_id)
        return PointRow(
            point_id=point_id,
            sweeps=tuple(self._memberships(conn).get(point_id, [])),
            parameters=dict(m["parameters"] or {}),
            manifest=m["manifest"],
            lock=m["lock"],
            target=m["target"],
            origin=m["origin"],
            status=runs[-1].status if runs else None,
            runs=runs,
        )
