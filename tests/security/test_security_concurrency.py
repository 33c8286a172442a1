"""Two `mlenv resolve --target …` at once: they take turns on the project lock, so the lock
ends with both targets' sections (the second reads what the first wrote)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from mlenv.lock import load_lock

TARGETS = ("linux-x86_64-cpu", "linux-aarch64-cpu")


def start(project: Any, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlenv", *args], cwd=project.root, env=project.environ(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("attempt", range(3))
def test_two_resolves_at_once_keep_both_sections(
    make_project: Callable[..., Any], attempt: int
) -> None:
    project = make_project(f"p{attempt}", requires=("tinybeta", "tinymodel"))
    text = project.manifest.read_text(encoding="utf-8")
    project.manifest.write_text(
        text.replace("targets: [host]", f"targets: [{', '.join(TARGETS)}]"), encoding="utf-8"
    )
    procs = [start(project, "resolve", "--target", t) for t in TARGETS]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    assert sorted(load_lock(project.lock).targets) == sorted(TARGETS)
    assert (project.root / ".mlenv" / "resolve.lock").is_file()
    leftovers = [p.name for p in project.root.iterdir() if p.name.startswith(".mlenv.lock")]
    assert leftovers == [], "no temporary lock file is left behind"


def test_a_waiting_resolve_says_so(
    make_project: Callable[..., Any], mlenv: Callable[..., Any]
) -> None:
    """While another process holds the project lock, resolve waits, says why, then proceeds."""
    import fcntl

    project = make_project(requires=("tinybeta",))
    (project.root / ".mlenv").mkdir()
    with open(project.root / ".mlenv" / "resolve.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = start(project, "resolve")
        try:
            proc.wait(timeout=3)
            pytest.fail("resolve did not wait for the project lock")
        except subprocess.TimeoutExpired:
            pass
        fcntl.flock(held, fcntl.LOCK_UN)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "waiting for another mlenv resolve in this project" in " ".join(stderr.split())
    assert project.lock.is_file()


def test_a_file_in_place_of_the_mlenv_folder_is_a_diagnostic(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(requires=("tinybeta",))
    (project.root / ".mlenv").write_text("not a folder\n", encoding="utf-8")
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, ".mlenv")
