"""A real sweep (offline runnable project, `null` backend) run as a user runs it, `mlenv
explore --results postgresql+psycopg://…`, into a real PostgreSQL server started on 127.0.0.1
(`tests/support/pg.py`; skipped with the reason where PostgreSQL 15 is missing); then `mlenv
results list --results …` shows every run of the sweep exactly once, also after a second
explore that finds everything recorded."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import localpypi
import pg
import pytest

pytest.importorskip("mlperf_loadgen")
pytest.importorskip("sqlalchemy")

from runproject import SWEEP_BASE, nullrun_project

MANIFEST = SWEEP_BASE
SWEEP = """
name: team
axes:
  benchmark.threads: [1, 2]
  benchmark.max-batch: [1, 64]
exclude:
  - {benchmark.threads: 2, benchmark.max-batch: 64}
scenarios: [Offline]
modes: [performance]
"""


def mlenv(project: Any, *args: str) -> localpypi.Result:
    return localpypi.run_mlenv(project, *args, timeout=300)


def test_a_sweep_into_postgresql(tmp_path: Path, postgres: pg.PgServer) -> None:
    url = postgres.database()
    assert url.startswith("postgresql+psycopg://")
    with nullrun_project(tmp_path) as project:
        project.write("mlenv.yaml", MANIFEST)
        sweep = project.write("team.yaml", SWEEP)
        done = mlenv(project, "explore", str(sweep), "--results", url, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)["data"]
        assert result["counts"]["ok"] == 3 and result["results"] == url
        ids = {p["id"] for p in result["points"]}
        again = mlenv(project, "explore", str(sweep), "--results", url, "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["data"]["counts"]["skipped"] == 3
        listed = mlenv(project, "results", "list", "--results", url, "--sweep", "team", "--json")
        assert listed.returncode == 0, listed.stderr
        runs = json.loads(listed.stdout)["data"]["runs"]
        every = mlenv(project, "results", "list", "--results", url, "--json")
        assert json.loads(every.stdout)["data"]["runs"] == runs  # nothing else in there
    seen = Counter((r["point_id"], r["scenario"], r["mode"]) for r in runs)
    assert {pid for pid, _, _ in seen} == ids
    assert set(seen.values()) == {1} and len(seen) == 3
    assert {r["status"] for r in runs} == {"ok"} and {r["sweep"] for r in runs} == {"team"}
    assert len({r["run_id"] for r in runs}) == 3
