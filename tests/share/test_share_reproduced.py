"""`mlenv pack` then `mlenv reproduce` on the same machine, with default settings, says
"reproduced" (CONTRACTS §11); and data the user must supply, when missing, is described by its
recipe's `contents:` sentence.

Real runs, offline, on the cheapest runnable project (`tests/support/nullrun.py`: the `null`
backend, LoadGen of the test's own Python).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from runproject import nullrun_project


def _mlenv(project: Any, *args: str, timeout: float = 600) -> H.Result:
    result = H.run_mlenv(project, *args, timeout=timeout)
    return result


def test_pack_then_reproduce_on_the_same_machine_is_reproduced(tmp_path: Path) -> None:
    pytest.importorskip("mlperf_loadgen")
    with nullrun_project(tmp_path) as project:
        result = _mlenv(project, "resolve")
        assert result.returncode == 0, str(result)
        # default settings (calibrated: VALID); --allow-invalid only so that a rare INVALID run
        # on a loaded machine is judged by the reproduction, which must match it; repeated, so
        # that the recorded figures show their own noise too (a single run cannot)
        result = _mlenv(project, "run", "--allow-invalid", "--repeat", "3")
        assert result.returncode == 0, str(result)
        bundle = tmp_path / "bundle.tar"
        result = _mlenv(project, "pack", "-o", str(bundle))
        assert result.returncode == 0, str(result)
    # the wheel server is gone: the reproduction is offline, with every default
    out = tmp_path / "repro"
    result = _mlenv(project, "reproduce", str(bundle), "--out", str(out), "--json")
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    report = out / "report.md"
    assert result.returncode == 0 and doc.get("ok") is True, (
        report.read_text() if report.exists() else str(result)
    )
    data = doc["data"]
    assert all(b["awarded"] for b in data["badges"].values())
    assert data["badges"]["reproduced"]["awarded"]
    figures = data["figures"]
    sps = [f for f in figures if f["metric"] == "samples_per_second"]
    assert sps and all(f["runs"]["reproduced"] >= 3 for f in sps)  # medians of 3 runs
    assert {f["scenario"] for f in figures if f["mode"] == "accuracy"} == {
        f["scenario"] for f in sps
    }
    here = data["machines"]["reproduced"]
    assert here["cores"] and "accelerators" in here
    text = report.read_text()
    assert "| CPU |" in text and "| memory |" in text


CONTENTS = "table.csv (the digits rows, 65 integers a line, the last one the label)"


def _local_data_project(tmp_path: Path) -> H.Project:
    project = H.write_project(tmp_path / "project", tmp_path / "home", None, requires=["userdata"])
    project.write(
        "recipes/datasets/userdata.yaml",
        f"""
        name: userdata
        kind: dataset
        summary: data the user supplies
        versions: ["1.0"]
        install:
          - local:
              env: MLENV_TEST_USERDATA
              contents: "{CONTENTS}"
        """,
    )
    return project


def test_missing_local_data_says_what_the_folder_must_hold(tmp_path: Path) -> None:
    project = _local_data_project(tmp_path)
    result = _mlenv(project, "resolve")
    assert result.returncode == 0, str(result)
    result = _mlenv(project, "install", "--json")
    assert result.returncode != 0, str(result)
    error = json.loads(result.stdout)["error"]
    assert "set MLENV_TEST_USERDATA to its folder" in error["message"]
    assert "unset" in error["why"]
    assert CONTENTS in error["hint"] and "export MLENV_TEST_USERDATA=" in error["hint"]
    assert not project.envs.exists() or not any(project.envs.iterdir())  # no work done
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    env = project.environ() | {"MLENV_TEST_USERDATA": str(a_file)}
    result = H.run_mlenv(project, "install", "--json", env=env)
    error = json.loads(result.stdout)["error"]
    assert "not a folder" in error["why"] and CONTENTS in error["hint"]
    folder = tmp_path / "data"
    folder.mkdir()
    env = project.environ() | {"MLENV_TEST_USERDATA": str(folder)}
    assert H.run_mlenv(project, "install", env=env).returncode == 0


def test_a_local_source_without_contents_keeps_the_plain_hint(tmp_path: Path) -> None:
    project = _local_data_project(tmp_path)
    recipe = project.root / "recipes/datasets/userdata.yaml"
    recipe.write_text(recipe.read_text().replace(f'contents: "{CONTENTS}"', ""))
    assert _mlenv(project, "resolve").returncode == 0
    error = json.loads(_mlenv(project, "install", "--json").stdout)["error"]
    assert error["hint"].startswith("export MLENV_TEST_USERDATA=/path/to/the/data")


def test_the_builtin_image_datasets_say_what_their_folder_holds() -> None:
    from mlenv.index import RecipeRoot, load_index
    from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir
    from mlenv.sources import LocalSource

    index = load_index([RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir())])
    said = {}
    for name in (
        "imagenet2012-val",
        "imagenet2012-val-mobilenet",
        "imagenet2012-val-pytorch",
        "openimages-mlperf",
    ):
        located = index.get(name)
        assert located is not None
        (local,) = [e.source for e in located.recipe.install if isinstance(e.source, LocalSource)]
        said[name] = local.contents or ""
    assert "val_map.txt" in said["imagenet2012-val"] and "50,000" in said["imagenet2012-val"]
    assert said["imagenet2012-val-pytorch"] == said["imagenet2012-val"]
    assert "validation/data" in said["openimages-mlperf"]
