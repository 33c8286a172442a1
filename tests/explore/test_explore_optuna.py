"""The optuna search on the offline runnable project: N distinct points of the space, the
same ones for the same seed, each told its recorded values (a rerun measures nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("optuna")
pytest.importorskip("mlperf_loadgen")
pytest.importorskip("sqlalchemy")

from runproject import SWEEP_BASE, nullrun_project

from mlenv.explore import explore
from mlenv.resultsdb import ResultsDB

MANIFEST = SWEEP_BASE.replace(
    "min_duration: 100, min_query_count: 16", "min_duration: 50, min_query_count: 8"
)
SWEEP = """
name: NAME
axes:
  benchmark.max-batch: [1, 64]
  benchmark.threads: [1, 2, 3]
exclude:
  - {benchmark.max-batch: 64, benchmark.threads: 3}
  - {benchmark.max-batch: 1, benchmark.threads: 3}
scenarios: [Offline]
modes: [performance]
objectives: {samples_per_second: max, latency_ns.p90: min}
search: {kind: optuna, points: 3, seed: SEED}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with nullrun_project(tmp_path_factory.mktemp("optuna")) as written:
        written.write("mlenv.yaml", MANIFEST)
        yield written


def write_sweep(project: Any, name: str, seed: int) -> Path:
    return project.write(f"{name}.yaml", SWEEP.replace("NAME", name).replace("SEED", str(seed)))


def chosen(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(sorted(p.parameters.items())) for p in result.points]


def test_optuna_picks_distinct_points_deterministically(project: Any) -> None:
    url = f"sqlite:///{project.root / 'optuna.db'}"
    first = explore(write_sweep(project, "opt-a", 7), results=url, environ=project.environ())
    assert len(first.points) == 3 and first.count("ok") == 3
    assert len(set(chosen(first))) == 3 and len({p.id for p in first.points}) == 3
    # excluded combinations are never picked
    assert all(p.parameters["benchmark.threads"] in (1, 2) for p in first.points)
    with ResultsDB.open(url) as db:
        rows = [r for r in db.runs() if r.status == "ok"]
        assert {r.point_id for r in rows} == {p.id for p in first.points}
        assert len(rows) == 3
    # the same seed in another sweep: the same points, told their recorded values, not measured
    second = explore(write_sweep(project, "opt-b", 7), results=url, environ=project.environ())
    assert chosen(second) == chosen(first)
    assert second.count("skipped") == 3
    with ResultsDB.open(url) as db:
        assert len([r for r in db.runs() if r.status == "ok"]) == 3


def test_optuna_dry_run_lists_its_space(project: Any) -> None:
    result = explore(write_sweep(project, "opt-dry", 1), dry_run=True)
    assert len(result.points) == 4 and result.count("planned") == 4
