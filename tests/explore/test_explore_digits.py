"""The issue's sweep on the real digits example (needs PyPI: `network`): threads x max-batch x
two ONNX Runtime versions, 8 points, `quick` profile, Offline performance, into SQLite, run as
a user runs it; then `mlenv results pareto --sweep` gives a non-empty front and every point is
recorded exactly once. LoadGen runs are kept short (min_duration 100 ms in the copied base)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import localpypi as H
import pytest
import yaml

pytestmark = pytest.mark.network

pytest.importorskip("sqlalchemy")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
SWEEP = """
name: digits-grid
axes:
  benchmark.threads: [1, 2]
  benchmark.max-batch: [1, 64]
  pin.onnxruntime: ["1.23.2", "1.22.0"]
scenarios: [Offline]
modes: [performance]
profile: quick
"""


def mlenv(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return H.run_mlenv_at(project, home, *args, extra={"COLUMNS": "160"}, timeout=1500)


def test_the_digits_sweep(tmp_path: Path) -> None:
    project = tmp_path / "digits"
    project.mkdir()
    base = yaml.safe_load((EXAMPLE / "mlenv.yaml").read_text(encoding="utf-8"))
    base["benchmark"]["settings"]["min_duration"] = 100  # as short as LoadGen allows
    (project / "mlenv.yaml").write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    (project / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    home = tmp_path / "home"
    url = f"sqlite:///{project / 'sweep.db'}"
    done = mlenv(project, home, "explore", "sweep.yaml", "--results", url, "--json")
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)["data"]
    assert result["counts"] == {"planned": 0, "ok": 8, "failed": 0, "skipped": 0}
    ids = {p["id"] for p in result["points"]}
    assert len(ids) == 8
    # two ONNX Runtime versions: two lock sections, so two environments for the eight points
    envs = project / ".mlenv" / "sweeps" / "digits-grid" / "envs"
    assert len(list(envs.iterdir())) == 2

    listed = mlenv(project, home, "results", "list", "--results", url, "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)["data"]["runs"]
    seen = Counter(r["point_id"] for r in runs if r["status"] == "ok")
    assert set(seen) == ids and set(seen.values()) == {1}
    versions = {r["parameters"]["pin.onnxruntime"] for r in runs}
    assert versions == {"1.23.2", "1.22.0"}

    front = mlenv(
        project, home, "results", "pareto", "--results", url, "--sweep", "digits-grid", "--json"
    )
    assert front.returncode == 0, front.stderr
    (group,) = json.loads(front.stdout)["data"]["groups"]
    assert group["scenario"] == "Offline" and group["candidates"] == 8
    assert 1 <= len(group["front"]) <= 8
    assert {r["point_id"] for r in group["front"]} <= ids
