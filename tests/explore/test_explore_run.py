"""Real sweeps of the offline runnable project (`null` backend, LoadGen of this Python) into
SQLite: every point measured once and recorded (INVALID runs too), a point failing on purpose
recorded with its stage, one environment for the points that share a lock section, `--dry-run`,
and a sweep killed partway (SIGKILL, SIGINT) that resumes with every run present exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlperf_loadgen")
pytest.importorskip("sqlalchemy")

from runproject import SWEEP_BASE, nullrun_project

from mlenv.explore import explore
from mlenv.ops.project import Project
from mlenv.resultsdb import ResultsDB

MANIFEST = SWEEP_BASE
SWEEP = """
name: NAME
axes:
  benchmark.max-batch: [1, 64]
  benchmark.threads: [1, 2]
  pin.null: ["1.0", "9.9"]          # 9.9 does not exist: that point fails to resolve
exclude:
  - {pin.null: "9.9", benchmark.max-batch: 64}
  - {pin.null: "9.9", benchmark.threads: 2}
scenarios: [Offline]
modes: MODES
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with nullrun_project(tmp_path_factory.mktemp("explore")) as written:
        written.write("mlenv.yaml", MANIFEST)
        yield written


def write_sweep(project: Any, name: str, modes: str = "[performance]") -> Path:
    text = SWEEP.replace("NAME", name).replace("MODES", modes)
    return project.write(f"{name}.yaml", text)


def by_status(rows: list[Any]) -> Counter:
    return Counter(r.status for r in rows)


def test_a_sweep_records_every_point_and_its_failure(project: Any) -> None:
    path = write_sweep(project, "grid")
    url = f"sqlite:///{project.root / 'grid.db'}"
    result = explore(path, results=url, environ=project.environ())
    assert (result.count("ok"), result.count("failed")) == (4, 1)
    (failed,) = [p for p in result.points if p.status == "failed"]
    assert failed.stage == "resolve" and failed.parameters["pin.null"] == "9.9"
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep="grid")
        assert by_status(rows) == {"ok": 4, "failed": 1}
        ok = [r for r in rows if r.status == "ok"]
        # every point once; INVALID (too short) runs are recorded like valid ones
        assert len({r.point_id for r in ok}) == 4
        assert all(r.scenario == "Offline" and r.mode == "performance" for r in ok)
        assert {r.document["valid"] in (True, False) for r in ok} == {True}
        assert all("mlperf_log_summary.txt" in r.logs for r in ok)
        batches = sorted(
            (r.parameters["benchmark.max-batch"], r.parameters["benchmark.threads"]) for r in ok
        )
        assert batches == [(1, 1), (1, 2), (64, 1), (64, 2)]
        (bad,) = [r for r in rows if r.status == "failed"]
        assert bad.stage == "resolve" and bad.error and "null" in bad.error["message"]
        assert db.point_status(failed.id) == "failed"
    # the four points have one lock section, so one environment
    envs = list((project.root / ".mlenv" / "sweeps" / "grid" / "envs").iterdir())
    host = Project.open(project.root, environ=project.environ()).host.name
    assert len(envs) == 1 and (envs[0] / host / "env.json").is_file()
    # again: nothing measured; --retry-failed tries the failed point once more (and keeps both)
    again = explore(path, results=url, environ=project.environ())
    assert again.count("skipped") == 5 and again.count("ok") == 0
    retried = explore(path, results=url, environ=project.environ(), retry_failed=True)
    assert (retried.count("skipped"), retried.count("failed")) == (4, 1)
    with ResultsDB.open(url) as db:
        assert by_status(db.runs(sweep="grid")) == {"ok": 4, "failed": 2}


def mlenv_cmd(project: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "mlenv", *args]


def test_dry_run_lists_the_points(project: Any) -> None:
    path = write_sweep(project, "dry")
    done = subprocess.run(
        mlenv_cmd(project, "explore", str(path), "--dry-run", "--json"),
        capture_output=True,
        text=True,
        env=project.environ(),
        cwd=project.root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["command"] == "explore"
    points = doc["data"]["points"]
    assert len(points) == 5 and {p["status"] for p in points} == {"planned"}
    assert all(len(p["id"]) == 64 for p in points)
    assert points[0]["parameters"] == {
        "benchmark.max-batch": 1,
        "benchmark.threads": 1,
        "pin.null": "1.0",
    }
    assert not (project.root / ".mlenv" / "sweeps" / "dry").exists()  # nothing resolved
    human = subprocess.run(
        mlenv_cmd(project, "explore", str(path), "--dry-run"),
        capture_output=True,
        text=True,
        env=project.environ(),
        cwd=project.root,
        timeout=120,
    )
    assert human.returncode == 0 and points[0]["id"][:12] in human.stderr
    assert "pin.null=9.9" in human.stderr


def test_ray_needs_a_cluster_address(project: Any) -> None:
    path = write_sweep(project, "ray")
    done = subprocess.run(
        mlenv_cmd(project, "explore", str(path), "--executor", "ray"),
        capture_output=True,
        text=True,
        env=project.environ(),
        timeout=120,
    )
    assert done.returncode == 1 and "--ray-address" in done.stderr  # never starts a cluster


def _count_runs(url: str) -> int:
    try:
        with ResultsDB.open(url) as db:
            return sum(1 for r in db.runs() if r.status == "ok")
    except Exception:  # the database is being created
        return 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_sweep_resumes_with_every_run_once(
    project: Any, how: signal.Signals
) -> None:
    name = f"resume-{how.name.lower()}"
    path = write_sweep(project, name, modes="[performance, accuracy]")
    url = f"sqlite:///{project.root / (name + '.db')}"
    child = subprocess.Popen(
        mlenv_cmd(project, "explore", str(path), "--results", url),
        env=project.environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while _count_runs(url) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the sweep ended before it could be interrupted"
    os.kill(child.pid, how)
    _, err = child.communicate(timeout=60)
    partial = _count_runs(url)
    assert 3 <= partial < 8
    if how == signal.SIGINT:
        assert child.returncode == 130, err
    done = subprocess.run(
        mlenv_cmd(project, "explore", str(path), "--results", url, "--json"),
        capture_output=True,
        text=True,
        env=project.environ(),
        timeout=600,
    )
    # exit 1 when this call met the failing pin.null 9.9 point (else the killed one did)
    assert done.returncode in (0, 1), done.stderr
    counts = json.loads(done.stdout)["data"]["counts"]
    assert counts["failed"] == (1 if done.returncode else 0)
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep=name)
        ok = Counter((r.point_id, r.scenario, r.mode) for r in rows if r.status == "ok")
        assert len(ok) == 8 and set(ok.values()) == {1}  # 4 points x 2 modes, each once
        failed = [r for r in rows if r.status == "failed"]
        assert len(failed) == 1
        points = {p.point_id for p in db.points(sweep=name)}
        assert len(points) == 5
