"""The verify, environment and recipe ops called as a program would call them (no CLI):
`ops.verify.verify`, `ops.envs.list_envs/remove/gc` and `ops.recipes` on a `Project` of the
offline project (tests/support/localpypi.py), resolved and installed through the ops."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from uv import find_uv_bin

from mlenv.errors import FormatError, InstallError, UsageError
from mlenv.ops import envs as envs_op
from mlenv.ops import recipes as recipes_op
from mlenv.ops.install import install
from mlenv.ops.project import Project
from mlenv.ops.resolve import resolve
from mlenv.ops.verify import VerifyResult, verify
from mlenv.reporter import NullReporter


def open_project(written: H.Project) -> Project:
    return Project(
        manifest_path=written.manifest,
        environ=H.child_environ(written.home, written.server),
        reporter=NullReporter(),
    )


@pytest.fixture
def installed(tmp_path: Path, server: Any) -> tuple[H.Project, Project, Path]:
    """A project resolved and installed through the ops: (written files, Project, env path)."""
    written = H.write_project(tmp_path / "project", tmp_path / "home", server)
    project = open_project(written)
    resolve(project)
    env = install(project).env.path
    return written, project, env


def store_objects(home: Path) -> set[str]:
    return {p.name for p in (home / "store" / "sha256").glob("*/*")}


# -- verify -----------------------------------------------------------------------------------


def test_verify_a_fresh_environment(installed: tuple[H.Project, Project, Path]) -> None:
    _, project, _ = installed
    result = verify(project)
    assert isinstance(result, VerifyResult)
    assert result.ok and result.differences == ()
    assert result.to_dict() == {"target": result.section.name, "differences": []}
    assert verify(project, "host").section.name == result.section.name


def test_verify_returns_every_difference_as_data(
    installed: tuple[H.Project, Project, Path],
) -> None:
    written, project, env = installed
    (env / "artifacts" / "remotemodel" / "model.bin").unlink()
    python = env / "venv" / "bin" / "python"
    subprocess.run(
        [str(find_uv_bin()), "pip", "uninstall", "--python", str(python), "--quiet", "tinyalpha"],
        check=True, env=written.environ(),
    )  # fmt: skip
    result = verify(project)  # drift is a result, not an exception
    assert not result.ok and len(result.differences) == 2
    assert any("remotemodel/model.bin" in d for d in result.differences)
    assert any("tinyalpha 2.0: missing" in d for d in result.differences)
    error = result.error()
    assert isinstance(error, InstallError)
    assert "2 place(s)" in error.message and error.hint and "install --force" in error.hint
    assert error.details["differences"] == list(result.differences)


def test_verify_without_an_environment(tmp_path: Path, server: Any) -> None:
    written = H.write_project(tmp_path / "project", tmp_path / "home", server)
    project = open_project(written)
    resolve(project)
    (difference,) = verify(project).differences
    assert "no environment" in difference
    with pytest.raises(UsageError):
        verify(project, "no/such target")


# -- env list / remove / gc --------------------------------------------------------------------


def test_list_envs_states_and_sizes(installed: tuple[H.Project, Project, Path]) -> None:
    _, project, env = installed
    listing = envs_op.list_envs(project)
    (row,) = listing.envs
    section = verify(project).section
    assert listing.project_dir == project.project_dir
    assert (row.target, row.path, row.state) == (section.name, env, "current")
    assert row.lock == section.digest() and row.size > row.exclusive > 0
    assert listing.to_dict()["envs"][0]["state"] == "current"
    env_json = env / "env.json"
    env_json.write_text(env_json.read_text().replace(section.digest(), "sha256:" + "0" * 64))
    assert envs_op.list_envs(project).envs[0].state == "stale"
    project.lock_path.unlink()
    assert envs_op.list_envs(project).envs[0].state == "no lock"
    (env / "env.json").unlink()
    assert envs_op.list_envs(project).envs[0].state.startswith("broken")


def test_gc_dry_run_then_sweep(installed: tuple[H.Project, Project, Path]) -> None:
    written, project, _ = installed
    junk = written.home / "store" / "sha256" / "ab" / ("ab" + "0" * 62)
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"nobody references this")
    before = store_objects(written.home)
    dry = envs_op.gc(project, dry_run=True)
    assert dry.dry_run and [r.path for r in dry.removed if r.kind == "object"] == [junk]
    assert dry.projects == (project.project_dir,) and dry.kept["objects"] == len(before) - 1
    assert store_objects(written.home) == before
    swept = envs_op.gc(project)
    assert swept.totals()["object"]["count"] == 1 and swept.freed > 0
    assert store_objects(written.home) == before - {junk.name}
    assert json.loads(json.dumps(swept.to_dict()))["removed"]["object"]["count"] == 1
    assert verify(project).ok


def test_remove_then_gc_empties_the_store(installed: tuple[H.Project, Project, Path]) -> None:
    written, project, env = installed
    (removed,) = envs_op.remove(project)
    assert removed.path == env and removed.freed > 0 and not env.exists()
    assert envs_op.list_envs(project).envs == ()
    with pytest.raises(UsageError, match="no environments"):
        envs_op.remove(project)
    project.lock_path.unlink()  # nothing references anything now
    assert envs_op.gc(project, only=True).totals()["object"]["count"] > 0
    assert store_objects(written.home) == set()


def test_gc_keeps_what_another_project_uses(tmp_path: Path, server: Any) -> None:
    a = H.write_project(tmp_path / "a", tmp_path / "home", server, requires=("tinybeta",))
    b = H.write_project(tmp_path / "b", tmp_path / "home", server, requires=("remotemodel",))
    pa, pb = open_project(a), open_project(b)
    for p in (pa, pb):
        resolve(p)
        install(p)
    both = store_objects(a.home)
    kept = envs_op.gc(pa)  # b installed from this store: it is remembered and counted
    assert set(kept.projects) == {pa.project_dir, pb.project_dir}
    assert store_objects(a.home) == both
    only = envs_op.gc(pa, only=True)
    assert only.projects == (pa.project_dir,)
    assert {Path(i["path"]).name for i in only.to_dict()["items"] if i["kind"] == "object"}
    assert store_objects(a.home) < both and verify(pa).ok


def test_gc_refuses_a_folder_that_is_no_project(
    installed: tuple[H.Project, Project, Path], tmp_path: Path
) -> None:
    _, project, _ = installed
    stray = tmp_path / "stray"
    stray.mkdir()
    with pytest.raises(UsageError, match="not an mlenv project"):
        envs_op.gc(project, [stray])
    with pytest.raises(UsageError, match="no project folder"):
        envs_op.gc(project, [tmp_path / "nowhere"])


# -- recipes ----------------------------------------------------------------------------------


def test_recipes_list_show_and_lint(installed: tuple[H.Project, Project, Path]) -> None:
    written, project, _ = installed
    models = recipes_op.list_recipes(project, "model")
    assert {"tinymodel", "remotemodel"} <= {r.name for r in models}
    assert {r.kind for r in models} == {"model"}
    shown = recipes_op.show(project, "tinybeta")
    assert shown.versions == ("1.0",) and shown.path.is_file()
    assert shown.to_dict()["file"] == "./recipes/frameworks/tinybeta.yaml"
    with pytest.raises(UsageError, match="no recipe named"):
        recipes_op.show(project, "nope")
    linted = recipes_op.lint(project, [written.recipes])
    assert linted.files == 4 and linted.recipes is None
    whole = recipes_op.lint(project)
    assert whole.recipes and whole.targets and whole.files > 0
    written.write("recipes/models/bad.yaml", "name: bad\nkind: model\nversions: 3\n")
    with pytest.raises(FormatError):
        recipes_op.lint(project, [written.recipes])


def test_lint_warnings_are_data(tmp_path: Path) -> None:
    written = H.write_project(tmp_path / "project", tmp_path / "home", None)
    written.write(
        "recipes/models/md5only.yaml",
        """
        name: md5only
        kind: model
        summary: an artifact with only an md5
        versions: ["1"]
        install:
          - artifact: {url: model.bin, md5: 0123456789abcdef0123456789abcdef}
        """,
    )
    result = recipes_op.lint(open_project(written), [written.recipes / "models" / "md5only.yaml"])
    (warning,) = result.warnings
    assert "only an md5" in warning and "recipes checksum md5only" in warning
