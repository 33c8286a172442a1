"""`mlenv tree` and `mlenv why` on a resolved offline project: read the lock only."""

from __future__ import annotations

import json
from typing import Any


def _run(cli: Any, project: Any, *args: str) -> Any:
    return cli(project.root, *args, home=project.home, server=project.server)


def test_tree_prints_the_solved_graph(resolved: Any, cli: Any) -> None:
    r = _run(cli, resolved, "tree")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "tinymodel 1.0" in lines
    assert "├── tinybeta 1.0 (*)" in lines  # shown in full under the root tinybeta
    assert "└── tinybeta 1.0 (pypi)" in lines
    assert any(line.startswith("└── model.onnx (artifact: sha256:") for line in lines)
    # pulled in by tinybeta's wheel: under it, from the lock's `requires:` of the PyPI pin
    assert lines[lines.index("└── tinybeta 1.0 (pypi)") + 1] == "    └── tinyalpha 2.0 (pypi)"


def test_tree_json_and_depth(resolved: Any, cli: Any) -> None:
    r = _run(cli, resolved, "--json", "tree", "--depth", "0")
    assert r.returncode == 0, r.stderr
    nodes = json.loads(r.stdout)["data"]["nodes"]
    assert [n["name"] for n in nodes][:4] == ["tinybeta", "tinymodel", "remotemodel", "tinytable"]
    assert all(n["children"] == [] for n in nodes)
    bad = _run(cli, resolved, "tree", "--depth", "-1")
    assert bad.returncode == 1 and "--depth" in bad.stderr


def test_why_chains_and_unknown_names(resolved: Any, cli: Any) -> None:
    r = _run(cli, resolved, "why", "tinybeta")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["tinybeta 1.0", "tinymodel 1.0 → tinybeta 1.0"]
    data = json.loads(_run(cli, resolved, "--json", "why", "model.onnx").stdout)["data"]
    assert [[n["name"] for n in chain] for chain in data["chains"]] == [["tinymodel", "model.onnx"]]
    miss = _run(cli, resolved, "why", "tinybet")
    assert miss.returncode == 1
    assert "not in the lock" in miss.stderr and "did you mean: tinybeta" in miss.stderr
    assert "Traceback" not in miss.stderr


def test_missing_or_stale_lock_points_at_resolve(project: Any, cli: Any) -> None:
    r = _run(cli, project, "tree")
    assert r.returncode == 1 and "mlenv resolve" in r.stderr
    assert _run(cli, project, "resolve").returncode == 0
    recipe = project.root / "recipes/frameworks/tinybeta.yaml"
    recipe.write_text(recipe.read_text() + "# edited\n")
    r = _run(cli, project, "why", "tinybeta")
    assert r.returncode == 1
    assert "out of date" in r.stderr and "mlenv resolve" in r.stderr
