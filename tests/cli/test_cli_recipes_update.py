"""Iterating on a local model: overwrite the file beside its recipe, see every command refuse
with both hashes and the fix, run `mlenv recipes checksum --update`, resolve, install again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from nullrun import FAST
from runproject import nullrun_project

NEW_MODEL = b"retrained: other bytes\n"


def _run(cli: Any, project: Any, *args: str) -> Any:
    return cli(project.root, *args, home=project.home, server=project.server)


def _refused(r: Any, old: str) -> None:
    assert r.returncode == 1, r.stderr
    err = r.stderr
    assert "recipes/models/model.onnx changed since its recipe's sha256 was written" in err
    assert "./recipes/models/tinymodel.yaml: install[0].artifact.sha256" in err
    assert old in err and H.sha256(NEW_MODEL) in err
    assert "mlenv recipes checksum --update tinymodel" in err
    assert "Traceback" not in err


def test_changed_local_model_is_refused_then_updated(installed: Any, cli: Any) -> None:
    old = H.sha256(H.SHIPPED_ONNX)
    model = installed.root / "recipes/models/model.onnx"
    recipe = installed.root / "recipes/models/tinymodel.yaml"
    recipe.write_text("# my model\n" + recipe.read_text())  # a comment the update keeps
    assert _run(cli, installed, "resolve").returncode == 0
    model.write_bytes(NEW_MODEL)
    for args in (("resolve", "--check"), ("resolve",), ("install",), ("install", "--force")):
        _refused(_run(cli, installed, *args), old)
    r = _run(cli, installed, "--json", "resolve", "--check")
    stale = json.loads(r.stdout)["error"]["details"]["stale"]
    assert [(s["package"], s["expected"], s["actual"]) for s in stale] == [
        ("tinymodel", old, H.sha256(NEW_MODEL))
    ]
    before = recipe.read_text()
    up = _run(cli, installed, "--json", "recipes", "checksum", "--update", "tinymodel")
    assert up.returncode == 0, up.stderr
    (u,) = json.loads(up.stdout)["data"]["updated"]
    assert (u["old"], u["new"], u["size"]) == (old, H.sha256(NEW_MODEL), len(NEW_MODEL))
    after = recipe.read_text()
    expected = before.replace(old, H.sha256(NEW_MODEL)).replace(
        f"size: {len(H.SHIPPED_ONNX)}", f"size: {len(NEW_MODEL)}"
    )
    assert after == expected and after.startswith("# my model\n")
    again = _run(cli, installed, "recipes", "checksum", "--update", "tinymodel")
    assert again.returncode == 0 and "every local file matches" in again.stderr
    assert _run(cli, installed, "resolve", "--check").returncode == 1  # the recipe changed
    assert _run(cli, installed, "resolve").returncode == 0
    assert _run(cli, installed, "resolve", "--check").returncode == 0
    r = _run(cli, installed, "install")
    assert r.returncode == 0, r.stderr
    env = Path(r.stdout.strip())
    assert (env / "artifacts/tinymodel/model.onnx").read_bytes() == NEW_MODEL


def test_update_errors(project: Any, cli: Any) -> None:
    r = _run(cli, project, "recipes", "checksum", "--update", "nosuch")
    assert r.returncode == 1 and "no recipe named" in r.stderr
    (project.root / "recipes/models/model.onnx").unlink()
    r = _run(cli, project, "recipes", "checksum", "--update", "tinymodel")
    assert r.returncode == 1 and "is not there" in r.stderr


@pytest.mark.usefixtures("wheels")
def test_run_refuses_a_changed_local_model(tmp_path: Path, cli: Any) -> None:
    with nullrun_project(tmp_path) as p:
        assert _run(cli, p, "resolve").returncode == 0
        (p.root / "recipes/models/zeros.bin").write_bytes(b"a new model\n")
        r = _run(cli, p, "run", "--frozen", "--allow-invalid", *FAST)
        assert r.returncode == 1
        assert "zeros.bin changed since its recipe's sha256 was written" in r.stderr
        assert "mlenv recipes checksum --update zeromodel" in r.stderr


def test_resolve_warns_about_ignored_recipe_files(project: Any, cli: Any) -> None:
    recipes = project.root / "recipes"
    (recipes / "flat.yaml").write_text("name: flat\n")
    (recipes / "model").mkdir()
    (recipes / "model/typo.yaml").write_text("name: typo\n")
    (recipes / "models/short.yml").write_text("name: short\n")
    r = _run(cli, project, "resolve")
    assert r.returncode == 0, r.stderr
    err = " ".join(r.stderr.split())
    assert "./recipes/flat.yaml is ignored: recipes go in a kind folder" in err
    assert "e.g. ./recipes/models/flat.yaml" in err
    assert "./recipes/model/typo.yaml is ignored: model/ is not one of" in err
    assert "./recipes/models/short.yml is ignored: recipe files end in .yaml" in err
