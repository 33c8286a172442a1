"""Download progress: bars (bytes, speed, time left) on a terminal, one line per download
elsewhere, never anything on stdout."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from mlenv.cli.output import ConsoleReporter


def reporter(terminal: bool) -> tuple[ConsoleReporter, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120, highlight=False)
    return ConsoleReporter(console), out


def test_terminal_downloads_are_bars_that_end_as_one_line() -> None:
    rep, out = reporter(terminal=True)
    rep.start("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", 2_000_000)
    rep.advance("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", 500_000)
    assert rep._progress is not None
    (task,) = rep._progress.tasks
    assert (task.completed, task.total) == (500_000, 2_000_000)
    rep.start("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", 2_000_000)
    assert rep._progress.tasks[0].completed == 0, "a retry starts the bar again"
    rep.advance("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", 2_000_000)
    rep.done("numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert rep._progress is None, "the bars stop when the last download ends"
    text = out.getvalue()
    assert "numpy-2.1.3" in text and "2.0 MB in " in text
    rep.close()  # idempotent (also registered at exit)


def test_without_a_terminal_each_download_is_one_line() -> None:
    rep, out = reporter(terminal=False)
    rep.start("model.bin", 3_000_000)
    rep.advance("model.bin", 1_000_000)
    rep.start("model.bin", 3_000_000)  # a retry
    rep.advance("model.bin", 3_000_000)
    rep.done("model.bin")
    rep.start("other.bin", None)
    rep.done("other.bin")
    lines = out.getvalue().splitlines()
    assert lines == ["↓ downloading model.bin (3.0 MB)", "↓ downloading other.bin"]
    assert rep._progress is None


def test_bars_on_a_terminal_leave_stdout_alone(
    resolved: Any, helpers: Any, mlenv: Callable[..., Any]
) -> None:
    """`mlenv install --json` with stderr on a pseudo-terminal: bars there, JSON alone on stdout."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlenv", "install", "--json"], cwd=resolved.root,
        env={**resolved.environ(), "TERM": "xterm"}, stdout=subprocess.PIPE, stderr=slave,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    stdout = proc.communicate(timeout=60)[0]
    os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    doc = json.loads(stdout)
    assert doc["ok"] is True and doc["data"]["built"] is True
    text = seen.decode(errors="replace")
    assert "model.bin" in text and " in 0." in text, text
    assert "Traceback" not in text
