"""An install killed with SIGKILL mid-download: the next install sweeps the remains and succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.lock import load_lock

SLOW_PATH = "/artifacts/slow.bin"


def start_killable_install(project: Any, helpers: Any) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `mlenv install` with a slow artifact and return once it is busy downloading it."""
    project.server.behaviors[SLOW_PATH].delay = 0.2  # 64 KiB in 2 KiB pieces: ~6 s in all
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlenv", "install"], cwd=project.root, env=project.environ(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # the partial file of the slow artifact (it stays empty: urllib reads in 1 MiB blocks)
    part = project.home / "store" / "tmp" / f"{helpers.sha256(helpers.SLOW_BIN)}.part"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"install ended early ({proc.returncode}): {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        if project.server.slow_started.is_set() and part.exists():
            time.sleep(0.2)  # some pieces on the wire
            return proc, part
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the install never reached the slow download")


@pytest.fixture
def slow_project(make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any) -> Any:
    project = make_project(remote_path=SLOW_PATH, remote_sha256=helpers.sha256(helpers.SLOW_BIN))
    resolved = mlenv(project, "resolve")
    assert resolved.returncode == 0, str(resolved)
    return project


def test_sigkill_mid_install_then_install_again(
    slow_project: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    project = slow_project
    (target,) = load_lock(project.lock).targets
    proc, _ = start_killable_install(project, helpers)
    build = project.envs / f".{target}.tmp-{proc.pid}"
    # downloads run before the venv is made (several at a time), so the kill finds the build
    # folder started: what must not survive it is a half-made environment under its real name
    assert build.is_dir(), "killed while the build folder existed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert not project.env_dir(target).exists(), "no half-made environment under its real name"

    project.server.behaviors[SLOW_PATH].delay = 0
    result = mlenv(project, "install")
    assert result.returncode == 0, str(result)
    assert result.stdout.strip() == str(project.env_dir(target))
    assert project.leftovers() == [], "the killed build folder was swept"
    placed = project.env_dir(target) / "artifacts" / "remotemodel" / "slow.bin"
    assert placed.read_bytes() == helpers.SLOW_BIN
    verify = mlenv(project, "verify")
    assert verify.returncode == 0, str(verify)


def test_a_killed_download_leaves_no_partial_file_behind(
    slow_project: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    """The partial download of a killed install is resumed or removed by the next install,
    not left in the store's tmp folder for ever (a multi-GB model would leak its size)."""
    project = slow_project
    proc, part = start_killable_install(project, helpers)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert part.exists()
    project.server.behaviors[SLOW_PATH].delay = 0
    result = mlenv(project, "install")
    assert result.returncode == 0, str(result)
    assert sorted(p.name for p in (project.home / "store" / "tmp").iterdir()) == []
