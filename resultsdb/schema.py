"""The tables, declared once (SQLAlchemy Core), and the schema version they carry.

Every table is prefixed `mlenv_` so that a shared PostgreSQL database can hold other things too.
`mlenv_meta` holds `schema_version`; a database written by a newer mlenv (a higher version) is
refused, never altered. Nothing outside `mlenv.resultsdb` touches these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1
PREFIX = "mlenv_"

metadata = MetaData()

meta = Table(
    f"{PREFIX}meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sweeps = Table(
    f"{PREFIX}sweeps",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

points = Table(
    f"{PREFIX}points",
    metadata,
    Column("point_id", String(128), primary_key=True),
    Column("parameters", JSON, nullable=False),
    Column("manifest", Text, nullable=False),  # the derived manifest, as written
    Column("lock", String(128)),  # the lock section digest
    Column("target", String(255)),
    Column("origin", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

# which sweeps a point belongs to (one configuration measured once, listed by every sweep)
sweep_points = Table(
    f"{PREFIX}sweep_points",
    metadata,
    Column("sweep", String(255), ForeignKey(sweeps.c.name), primary_key=True),
    Column("point_id", String(128), ForeignKey(points.c.point_id), primary_key=True),
    Column("added_at", Float, nullable=False),
)

runs = Table(
    f"{PREFIX}runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("point_id", String(128), ForeignKey(points.c.point_id), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # ok | failed
    Column("benchmark", String(255)),
    Column("dataset", String(255)),
    Column("scenario", String(64)),
    Column("mode", String(64)),
    Column("valid", Boolean),
    Column("samples_per_second", Float),
    Column("document", JSON),  # the result.json document (CONTRACTS §8/§11), whole
    Column("document_sha256", String(64)),
    Column("error", JSON),  # {message, where, why, hint} of a failed point
    Column("stage", String(64)),  # where a failed point failed (resolve, install, run, …)
    Column("origin", String(64), nullable=False),  # mlenv | mlperf-<round>
    Column("recorded_at", Float, nullable=False, index=True),  # recording order
)

logs = Table(
    f"{PREFIX}logs",
    metadata,
    Column("sha256", String(64), primary_key=True),  # of the uncompressed bytes
    Column("size", BigInteger, nullable=False),
    Column("encoding", String(16), nullable=False),  # zlib
    Column("data", LargeBinary, nullable=False),
)

run_logs = Table(
    f"{PREFIX}run_logs",
    metadata,
    Column("run_id", String(64), ForeignKey(runs.c.run_id), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("sha256", String(64), ForeignKey(logs.c.sha256), nullable=False),
)
