"""Inputs a user (or a stranger's file) can craft never surface as `internal error:`: a file
where a folder should be, a folder where a file should be, empty or list-shaped documents, odd
`--set` values. Each is exit 1 with `error:` naming the path and a `hint:` (exit 2 for usage)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.cli.output import os_error
from mlenv.errors import RunError
from mlenv.ops import staging

BENCH = "benchmark: {model: tinymodel, dataset: tinytable, backend: tinybeta}\n"


def _dir(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).mkdir(parents=True, exist_ok=True)


def _file(rel: str, text: str = "not what was expected\n") -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")

    return make


def _bench(root: Path) -> None:
    text = (root / "mlenv.yaml").read_text(encoding="utf-8")
    (root / "mlenv.yaml").write_text(text + BENCH, encoding="utf-8")


# (id, setup of the project folder, command line, needles in stderr)
CASES: list[tuple[str, Callable[[Path], None], tuple[str, ...], tuple[str, ...]]] = [
    ("manifest-is-a-folder", _dir("adir"), ("--manifest", "adir", "resolve"), ("adir",)),
    ("lock-is-a-folder-install", _dir("mlenv.lock"), ("install", "--frozen"), ("mlenv.lock",)),
    ("lock-is-a-folder-resolve", _dir("mlenv.lock"), ("resolve",), ("mlenv.lock",)),
    ("lock-option-is-a-folder", _dir("dd"), ("--lock", "dd", "install", "--frozen"), ("dd",)),
    ("dot-mlenv-is-a-file-resolve", _file(".mlenv"), ("resolve",), (".mlenv",)),
    ("dot-mlenv-is-a-file-install", _file(".mlenv"), ("install",), (".mlenv",)),
    ("envs-is-a-file", _file(".mlenv/envs"), ("install",), (".mlenv/envs",)),
    ("diff-of-a-folder", _dir("dd"), ("diff", "dd", "mlenv.lock"), ("dd",)),
    ("reproduce-not-a-tar", _file("b.tar"), ("reproduce", "b.tar"), ("b.tar",)),
    ("reproduce-empty-file", _file("b.tar", ""), ("reproduce", "b.tar"), ("b.tar",)),
    ("reproduce-no-bundle-json", _dir("b"), ("reproduce", "b"), ("bundle.json",)),
    ("reproduce-bundle-json-folder", _dir("b/bundle.json"), ("reproduce", "b"), ("bundle.json",)),
    ("reproduce-bundle-json-list", _file("b/bundle.json", "[1]"), ("reproduce", "b"), ("b",)),
    ("reproduce-out-is-a-file", _file("f"), ("reproduce", "f", "--out", "f"), ("f",)),
    ("manifest-is-a-list", _file("mlenv.yaml", "- a\n- b\n"), ("resolve",), ("mlenv.yaml",)),
    ("manifest-is-empty", _file("mlenv.yaml", ""), ("resolve",), ("mlenv.yaml",)),
    ("lock-is-empty", _file("mlenv.lock", ""), ("install", "--frozen"), ("mlenv.lock",)),
    ("lock-is-a-list", _file("mlenv.lock", "- 1\n"), ("install", "--frozen"), ("mlenv.lock",)),
    ("init-into-a-file", _file("afile"), ("init", "afile"), ("afile",)),
    ("init-below-a-file", _file("afile"), ("init", "afile/sub"), ("afile",)),
    ("recipe-is-a-folder", _dir("recipes/models/bad.yaml"), ("resolve",), ("bad.yaml",)),
    ("recipe-is-a-list", _file("recipes/models/bad.yaml", "- x\n"), ("resolve",), ("bad.yaml",)),
    ("set-equals-only", _bench, ("run", "--set", "="), ("--set",)),
    ("set-dot-only", _bench, ("run", "--set", "."), ("--set",)),
    ("set-scenario-dot", _bench, ("run", "--set", "Offline."), ("--set",)),
    ("set-scenario-no-key", _bench, ("run", "--set", "Offline.=1"), ("Offline.",)),
    ("set-empty-scenario", _bench, ("run", "--set", ".x=1"), ("unknown scenario",)),
]


@pytest.mark.parametrize(
    ("setup", "args", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_crafted_input_is_a_diagnostic(
    project: Any,
    mlenv: Callable[..., Any],
    helpers: Any,
    sentinel: Any,
    setup: Callable[[Path], None],
    args: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    setup(project.root)
    result = mlenv(project, *args)
    helpers.assert_user_error(result, *needles)
    sentinel.check()


def test_export_into_a_folder(resolved: Any, mlenv: Callable[..., Any], helpers: Any) -> None:
    (resolved.root / "dd").mkdir()
    result = mlenv(resolved, "export", "--format", "requirements", "-o", "dd")
    helpers.assert_user_error(result, "dd", "is a directory")


@pytest.mark.parametrize("args", [("run", "--scenario", "Bogus"), ("run", "--mode", "fast")])
def test_bad_choices_are_usage_errors(
    project: Any, mlenv: Callable[..., Any], args: tuple[str, ...]
) -> None:
    result = mlenv(project, *args)
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("variable", ["MLENV_HOST_GLIBC=2", "MLENV_HOST_PYTHON=3"])
def test_one_part_host_versions(
    project: Any, mlenv: Callable[..., Any], helpers: Any, variable: str
) -> None:
    name, _, value = variable.partition("=")
    result = mlenv(project, "resolve", env={**project.environ(), name: value})
    helpers.assert_user_error(result, name)


def test_debug_still_shows_the_traceback(project: Any, mlenv: Callable[..., Any]) -> None:
    (project.root / "afile").write_text("x\n", encoding="utf-8")
    result = mlenv(project, "--debug", "init", "afile")
    assert result.returncode == 1, str(result)
    assert "Traceback" in result.stderr and "error:" in result.stderr


@pytest.mark.parametrize(
    ("error", "needles"),
    [
        (FileExistsError(errno.EEXIST, "File exists", "/p/x"), ("/p/x", "in the way")),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/p/f/x"), ("/p/f/x", "a file")),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/p/d"), ("/p/d", "a folder")),
        (PermissionError(errno.EACCES, "Permission denied", "/p/r"), ("/p/r", "permissions")),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/p/m"), ("/p/m", "exists")),
        (OSError(errno.ENOSPC, "No space left on device", "/p/big"), ("/p/big", "disk space")),
        (OSError(errno.EISDIR, "Is a directory", "/p/.tmp", None, "/p/lock"), ("/p/lock",)),
        (OSError("no errno at all"), ("no errno at all",)),
    ],
)
def test_os_errors_become_diagnostics(error: OSError, needles: tuple[str, ...]) -> None:
    diagnostic = os_error(error)
    text = f"{diagnostic.message} {diagnostic.where} {diagnostic.why} {diagnostic.hint}"
    assert diagnostic.hint
    for needle in needles:
        assert needle in text


# -- the staging folders of results (atomic result folders) -------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_the_dead_and_keeps_the_living(tmp_path: Path) -> None:
    final = tmp_path / "performance" / "run_1"
    final.mkdir(parents=True)
    dead, live = _dead_pid(), os.getppid()
    (final.parent / f".run_1.tmp-{dead}").mkdir()
    (final.parent / f".run_1.tmp-{live}").mkdir()
    (final.parent / f".run_1.old-{dead}").mkdir()
    (final.parent / f".other.tmp-{dead}").mkdir()
    removed = staging.sweep(final)
    assert sorted(p.name for p in removed) == sorted([f".run_1.tmp-{dead}", f".run_1.old-{dead}"])
    left = sorted(p.name for p in final.parent.iterdir())
    assert left == sorted(["run_1", f".run_1.tmp-{live}", f".other.tmp-{dead}"])


def test_sweep_puts_back_a_result_set_aside_by_a_killed_swap(tmp_path: Path) -> None:
    final = tmp_path / "accuracy"
    old = tmp_path / f".accuracy.old-{_dead_pid()}"
    old.mkdir()
    (old / "result.json").write_text("{}", encoding="utf-8")
    staging.sweep(final)
    assert (final / "result.json").read_text(encoding="utf-8") == "{}"
    assert not old.exists()


def test_publish_replaces_whole_and_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "run_1"
    final.mkdir()
    (final / "result.json").write_text("old", encoding="utf-8")
    (final / "stale.txt").write_text("old", encoding="utf-8")
    new = staging.prepare(final)
    assert new.name == f".run_1.tmp-{os.getpid()}" and list(new.iterdir()) == []
    (new / "result.json").write_text("new", encoding="utf-8")
    staging.publish(new, final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_1"]
    assert sorted(p.name for p in final.iterdir()) == ["result.json"]


def test_results_that_are_a_file_are_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("x", encoding="utf-8")
    with pytest.raises(RunError) as caught:
        staging.prepare(tmp_path / "results" / "host" / "m" / "Offline" / "accuracy")
    assert caught.value.hint and "results" in str(caught.value.where)
