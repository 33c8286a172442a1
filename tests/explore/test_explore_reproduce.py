"""Reproducing a point of a real sweep (offline runnable project, `null` backend): a point that
first failed to resolve is retried with --retry-failed and gains its lock and target in the
results database; `mlenv explore SWEEP --pack POINT` writes the `mlenv pack` bundle of a
measured point (its manifest, lock, recipes and results), found by a prefix of its id."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import localpypi
import pytest

pytest.importorskip("mlperf_loadgen")
pytest.importorskip("sqlalchemy")

from runproject import SWEEP_BASE, nullrun_project

from mlenv.explore import explore
from mlenv.ops.project import Project
from mlenv.resultsdb import ResultsDB

MANIFEST = SWEEP_BASE
SWEEP = """
name: again
axes:
  pin.null: ["1.0", "2.0"]          # 2.0 is not in the recipe until the test adds it
scenarios: [Offline]
modes: [performance]
"""


def mlenv(project: Any, *args: str) -> localpypi.Result:
    return localpypi.run_mlenv(project, *args, timeout=300)


def host_section(project: Any) -> str:
    """The lock section of `target: host` on this machine (`linux-x86_64-cpu-host` where the
    built-in target file of that name carries other facts)."""
    return Project.open(project.root, environ=project.environ()).host.name


def test_a_retried_point_gains_its_lock_and_packs(tmp_path: Path) -> None:
    with nullrun_project(tmp_path) as project:
        project.write("mlenv.yaml", MANIFEST)
        path = project.write("again.yaml", SWEEP)
        url = f"sqlite:///{project.root / 'again.db'}"
        first = explore(path, results=url, environ=project.environ())
        assert (first.count("ok"), first.count("failed")) == (1, 1)
        (late,) = [p for p in first.points if p.status == "failed"]
        assert late.stage == "resolve"
        with ResultsDB.open(url) as db:
            point = db.get(late.id)
            assert (point.lock, point.target) == (None, None)
        # the version appears (a recipe updated); the failed point is retried and resolves
        recipe = project.root / "recipes" / "frameworks" / "null.yaml"
        text = recipe.read_text(encoding="utf-8")
        recipe.write_text(text.replace('versions: ["1.0"]', 'versions: ["1.0", "2.0"]'))
        retried = explore(path, results=url, environ=project.environ(), retry_failed=True)
        assert (retried.count("ok"), retried.count("skipped")) == (1, 1)
        with ResultsDB.open(url) as db:
            point = db.get(late.id[:10])
            assert point.lock and point.lock.startswith("sha256:")
            assert point.target == host_section(project)
            assert [r.status for r in db.runs() if r.point_id == late.id] == ["failed", "ok"]
        check_pack(project, path, late.id, point.lock)


def text_of(tar: tarfile.TarFile, name: str) -> str:
    member = tar.extractfile(name)
    assert member is not None, name
    return member.read().decode()


def check_pack(project: Any, sweep: Path, point_id: str, lock: str) -> None:
    out = project.root / "point.mlenv.tar"
    done = mlenv(project, "explore", str(sweep), "--pack", point_id[:8], "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data["bundle"] == str(out) and data["results"] == 1
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        bundle = json.loads(text_of(tar, "bundle.json"))
        (result,) = [n for n in names if n.endswith("/result.json")]
        document = json.loads(text_of(tar, result))
        locked = text_of(tar, "project/mlenv.lock")
    for member in ("project/mlenv.yaml", "project/recipes/frameworks/null.yaml"):
        assert member in names, sorted(names)
    host = host_section(project)
    assert result.startswith(f"project/results/{host}/zeromodel/Offline/performance/")
    roles = {f["path"]: f["role"] for f in bundle["files"]}
    assert roles["project/mlenv.lock"] == "lock" and roles[result] == "result"
    # the lock section the point was measured with, and the point's own manifest
    assert bundle["lock"] == lock == document["lock"] and bundle["target"] == host
    assert f"manifest: sha256:{point_id}" in locked
    # the default name, and the errors a user meets
    default = mlenv(project, "explore", str(sweep), "--pack", point_id[:12])
    assert default.returncode == 0, default.stderr
    assert (project.root / f"again-{point_id[:12]}.mlenv.tar").is_file()
    unknown = mlenv(project, "explore", str(sweep), "--pack", "ffffzz")
    assert unknown.returncode != 0 and "no point 'ffffzz' in sweep again" in unknown.stderr
    assert "Traceback" not in unknown.stderr
