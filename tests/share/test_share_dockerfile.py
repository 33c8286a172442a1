"""`mlenv export --format dockerfile`: a build context that holds everything the Dockerfile
copies, mlenv included as a wheel built from this checkout (never `pip install mlenv` from an
index). Docker itself is not run: the tests check the context against the Dockerfile."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mlenv.ops.dockerctx as dockerctx
from mlenv.exporters import ExportError
from mlenv.ops.project import Project


def _copies(dockerfile: Path) -> list[str]:
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    return [line.split()[1] for line in lines if line.startswith("COPY ")]


def _assert_self_contained(folder: Path) -> str:
    """Every COPY source lies in the context; mlenv is installed from the context's wheel."""
    dockerfile = folder / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    for source in _copies(dockerfile):
        assert (folder / source).exists(), f"the Dockerfile copies {source}, not in {folder}"
    wheels = [s for s in _copies(dockerfile) if s.endswith(".whl")]
    assert len(wheels) == 1 and wheels[0].startswith("wheels/mlenv-"), text
    spec = next(line for line in text.splitlines() if line.startswith("ARG MLENV_SPEC="))
    assert spec.endswith(Path(wheels[0]).name), spec  # the copied wheel, not an index's mlenv
    assert 'RUN pip install "${MLENV_SPEC}"' in text
    with zipfile.ZipFile(folder / wheels[0]) as whl:
        names = whl.namelist()
        assert "mlenv/__init__.py" in names and "mlenv/ops/dockerctx.py" in names
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert "Name: mlenv" in whl.read(meta).decode()
    return text


def test_a_context_folder_outside_the_project(
    tmp_path: Path, server: Any, helpers: Any, mlenv: Callable[..., Any]
) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    context = tmp_path / "image"
    done = mlenv(project, "export", "--format", "dockerfile", "-o", str(context), "--json")
    assert done.returncode == 0, str(done)
    data = json.loads(done.stdout)["data"]
    assert Path(data["context"]) == context and Path(data["path"]) == context / "Dockerfile"
    assert all(Path(f).exists() for f in data["files"])
    text = _assert_self_contained(context)
    assert "COPY mlenv.lock ./mlenv.lock" in text and "COPY mlenv.yaml ./mlenv.yaml" in text
    assert "COPY recipes/ ./recipes/" in text and (context / "recipes").is_dir()
    assert (context / "mlenv.lock").read_bytes() == (project.root / "mlenv.lock").read_bytes()
    again = mlenv(project, "export", "--format", "dockerfile", "-o", str(context / "Dockerfile"))
    assert again.returncode == 0, str(again)  # a second export refreshes the same context
    assert len(list((context / "wheels").glob("*.whl"))) == 1


def test_the_project_itself_as_context_and_a_given_wheel(
    tmp_path: Path, server: Any, helpers: Any, mlenv: Callable[..., Any]
) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    done = mlenv(project, "export", "--format", "dockerfile", "-o", "Dockerfile")
    assert done.returncode == 0, str(done)
    _assert_self_contained(project.root)
    built = next((project.root / "wheels").glob("mlenv-*.whl"))
    given = shutil.copy2(built, tmp_path / built.name)
    out = tmp_path / "ctx2"
    used = mlenv(
        project, "export", "--format", "dockerfile", "-o", f"{out}/", "--mlenv-wheel", str(given)
    )
    assert used.returncode == 0, str(used)
    _assert_self_contained(out)
    bad = mlenv(project, "export", "--format", "dockerfile", "-o", str(out), "--mlenv-wheel", "x")
    helpers.assert_user_error(bad, "not a wheel of mlenv")
    nowhere = mlenv(project, "export", "--format", "dockerfile")
    helpers.assert_user_error(nowhere, "needs a build context folder")


def test_an_mlenv_installed_from_a_wheel_needs_the_flag(
    tmp_path: Path, server: Any, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    monkeypatch.setattr(dockerctx, "source_checkout", lambda: None)  # as an installed wheel
    with pytest.raises(ExportError, match="installed from a wheel") as caught:
        dockerctx.prepare(
            Project.open(project.root, environ={"MLENV_HOME": str(tmp_path / "home")}),
            tmp_path / "ctx",
            recipe_folders=(),
            manifest_file="mlenv.yaml",
            lock_file="mlenv.lock",
        )
    assert caught.value.hint and "--mlenv-wheel" in caught.value.hint


def test_the_source_checkout_is_found() -> None:
    root = dockerctx.source_checkout()
    assert root is not None and (root / "mlenv" / "__init__.py").is_file()
    assert dockerctx.context_paths(Path("a/Dockerfile"))[1].name == "Dockerfile"
    folder, file = dockerctx.context_paths(Path("image"))
    assert file == folder / "Dockerfile"
