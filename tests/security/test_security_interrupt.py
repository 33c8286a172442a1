"""Interrupted and killed runs: the previous result stays whole, the harness dies with mlenv.

A real `mlenv run`, offline, on the cheapest runnable project (`tests/support/nullrun.py`: the
`null` backend on a small table, numpy and LoadGen of the Python running these tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
import sentinel as _sentinel
from nullrun import SAMPLES
from runproject import nullrun_project

pytest.importorskip("mlperf_loadgen")

# Server issues queries at target_qps for min_duration however fast the backend answers; so few
# queries are INVALID for LoadGen (early stopping), which these tests do not care about
FAST = [
    *["--set", "min_duration=100", "--set", "min_query_count=16", "--set", "target_qps=500"],
    "--allow-invalid",
]
SLOW = ["--set", "min_duration=120000", "--set", "min_query_count=16", "--set", "target_qps=50"]
SCENARIO = ["--scenario", "Server", "--mode", "performance"]


@pytest.fixture
def runnable(tmp_path: Path) -> Iterator[Any]:
    with nullrun_project(tmp_path) as project:
        done = H.run_mlenv(project, "resolve")
        assert done.returncode == 0, str(done)
        done = H.run_mlenv(project, "run", *SCENARIO, *FAST, timeout=300)
        assert done.returncode == 0, str(done)
        yield project


def run_dir(project: Any) -> Path:
    (result,) = (project.root / "results").glob("*/zeromodel/Server/performance/run_1/result.json")
    return result.parent


def start_slow_run(project: Any) -> tuple[subprocess.Popen[str], Path]:
    """A long `mlenv run`; returns once its harness writes into the staging folder."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlenv", "run", *SCENARIO, *SLOW],
        cwd=project.root, env=project.environ(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    staging = run_dir(project).parent / f".run_1.tmp-{proc.pid}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended early ({proc.returncode}): {proc.communicate()}")
        if (staging / "mlperf_log_detail.txt").exists():
            time.sleep(0.5)  # LoadGen is measuring
            return proc, staging
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run never started measuring")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(c) for c in task.read_text().split()]
    return out


def alive(pid: int) -> bool:
    """A process that exists and is no zombie (an orphan's zombie may wait long for init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def test_ctrl_c_keeps_the_previous_result(runnable: Any) -> None:
    good = run_dir(runnable)
    before = _sentinel.listing(good)
    proc, staging = start_slow_run(runnable)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "is unchanged" in " ".join(stderr.split()), stderr
    assert "Traceback" not in stderr
    _sentinel.assert_unchanged(good, before)
    assert not staging.exists(), "an interrupted run removes its staging folder"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_mlenv_kills_the_harness_and_the_next_run_sweeps(runnable: Any) -> None:
    good = run_dir(runnable)
    before = _sentinel.listing(good)
    proc, staging = start_slow_run(runnable)
    harness = children(proc.pid)
    assert harness, "the harness runs as a child of mlenv"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in harness) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = [pid for pid in harness if alive(pid)]
    for pid in orphans:  # never leave one running, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not orphans, "the harness outlived mlenv"
    _sentinel.assert_unchanged(good, before)
    assert staging.is_dir(), "the killed run's staging folder is left (swept next time)"

    done = H.run_mlenv(runnable, "run", *SCENARIO, *FAST, timeout=300)
    assert done.returncode == 0, str(done)
    assert not staging.exists(), "the next run swept the leftover"
    assert [p.name for p in good.parent.iterdir()] == ["run_1"]
    assert (good / "result.json").is_file()


def test_a_failed_run_keeps_the_previous_result(runnable: Any) -> None:
    good = run_dir(runnable)
    before = _sentinel.listing(good)
    too_many = ["--set", f"performance_sample_count_override={SAMPLES * 100}"]
    done = H.run_mlenv(runnable, "run", *SCENARIO, *FAST, *too_many, timeout=300)
    H.assert_user_error(done, "the harness failed", "previous result in", "is unchanged")
    _sentinel.assert_unchanged(good, before)


def test_results_name_their_final_folder_only(runnable: Any) -> None:
    """Nothing in a published folder mentions the staging folder it was written in."""
    good = run_dir(runnable)
    for path in good.iterdir():
        assert b".tmp-" not in path.read_bytes(), path
    assert sorted(p.name for p in good.parent.iterdir()) == ["run_1"]


def test_compliance_and_accuracy_folders_are_published_whole(runnable: Any) -> None:
    done = H.run_mlenv(
        runnable, "run", "--scenario", "Server", "--compliance", "TEST01", *FAST, timeout=300
    )
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, str(done)
    scenario = run_dir(runnable).parent.parent
    assert (scenario / "TEST01" / "result.json").is_file(), str(done)
    assert (scenario / "accuracy" / "result.json").is_file(), str(done)
    names = [p.name for p in scenario.rglob("*")]
    assert not [n for n in names if ".tmp-" in n or ".old-" in n], names
