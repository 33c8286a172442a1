"""YAML files in a project's recipe folders that the index does not read are named, with why,
by `mlenv recipes lint` (and `mlenv resolve`), found by the index's one walk of the folders;
and `mlenv recipes show` prints the recipe file as it is, on stdout, never wrapped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import localpypi as H
import pytest
from runproject import nullrun_project

from mlenv.index import ignored_files, index_roots, load_index

IGNORED = {
    "./recipes/flat.yaml": "is ignored: recipes go in a kind folder",
    "./recipes/model/typo.yaml": "is ignored: model/ is not one of",
    "./recipes/models/old/keep.yaml": "is ignored: files in subfolders of models/ are not read",
    "./recipes/models/short.yml": "is ignored: recipe files end in .yaml, not .yml",
}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[H.Project]:
    with nullrun_project(tmp_path) as project:
        recipes = project.recipes
        (recipes / "flat.yaml").write_text("name: flat\n")
        (recipes / "model").mkdir()
        (recipes / "model/typo.yaml").write_text("name: typo\n")
        (recipes / "models/old").mkdir()
        (recipes / "models/old/keep.yaml").write_text("name: keep\n")
        (recipes / "models/short.yml").write_text("name: short\n")
        (recipes / "models/notes.txt").write_text("not YAML: not reported\n")
        (recipes / ".hidden").mkdir()
        (recipes / ".hidden/x.yaml").write_text("name: x\n")  # an editor's or tool's folder
        yield project


def test_one_walk_finds_the_recipes_and_the_ignored_files(project: H.Project) -> None:
    roots = index_roots(project.root, ("./recipes",))
    index = load_index(roots)
    assert {"zeromodel", "smalldigits", "null"} <= set(index.names())
    assert len(index.ignored) == len(IGNORED)
    for (label, why), line in zip(sorted(IGNORED.items()), sorted(index.ignored), strict=True):
        assert line.startswith(f"{label} {why}"), line
    assert "e.g. ./recipes/models/flat.yaml" in sorted(index.ignored)[0]
    assert ignored_files(roots) == index.ignored  # the same walk, without reading the files
    # a warm load (the cached index) knows them too
    cache = project.root / "cache"
    assert load_index(roots, cache_dir=cache).ignored == index.ignored
    assert load_index(roots, cache_dir=cache).ignored == index.ignored


def test_lint_reports_them(project: H.Project) -> None:
    result = H.run_mlenv(project, "recipes", "lint")
    assert result.returncode == 0, str(result)
    err = " ".join(result.stderr.split())
    for label, why in IGNORED.items():
        assert f"warning: {label} {why}" in err, err
    assert ".hidden" not in err and "notes.txt" not in err
    result = H.run_mlenv(project, "recipes", "lint", "--json")
    assert result.returncode == 0, str(result)
    warnings = json.loads(result.stdout)["data"]["warnings"]
    assert sum(1 for w in warnings if " is ignored: " in w) == len(IGNORED)


def test_lint_of_the_builtin_catalog_alone_reports_none(tmp_path: Path) -> None:
    roots = index_roots(None, ())
    assert load_index(roots).ignored == []


def test_show_prints_the_yaml_on_stdout_unwrapped(project: H.Project) -> None:
    recipe = project.recipes / "models" / "zeromodel.yaml"
    long = "summary: " + " ".join(f"word{i}" for i in range(60))  # ~420 characters
    text = recipe.read_text().replace("summary: nothing to load", long)
    recipe.write_text(text)
    result = H.run_mlenv(
        project, "recipes", "show", "zeromodel", env={**project.environ(), "COLUMNS": "40"}
    )
    assert result.returncode == 0, str(result)
    assert long in result.stdout.splitlines()
    assert result.stdout == (text if text.endswith("\n") else f"{text}\n")
    assert "./recipes/models/zeromodel.yaml" in result.stderr  # which file: on stderr
    assert long not in result.stderr
