"""Peak memory of a run: the harness subprocess's maximum resident set size.

`wait_with_rusage(proc)` replaces `proc.wait()`: it reaps the child with `os.wait4`, which hands
back that child's own resource usage (its `ru_maxrss` covers the child and the descendants it
waited for), not the maximum over every child mlenv ever started as
`getrusage(RUSAGE_CHILDREN)` would.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

_POLL_S = 0.05


def peak_rss_bytes(usage: resource.struct_rusage) -> int | None:
    """`ru_maxrss` in bytes (Linux counts KiB, macOS bytes); None when it is not reported."""
    value = int(usage.ru_maxrss)
    if value <= 0:
        return None
    return value if sys.platform == "darwin" else value * 1024


def children_peak_rss_bytes() -> int | None:
    """The largest peak RSS of any child this process has waited for (RUSAGE_CHILDREN)."""
    return peak_rss_bytes(resource.getrusage(resource.RUSAGE_CHILDREN))


def wait_with_rusage(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float | None = None
) -> tuple[int, int | None]:
    """Wait for `proc` to end; return its return code (negative: the signal that ended it, as
    Popen reports) and its peak RSS in bytes (None when it was already reaped elsewhere).

    Sets `proc.returncode`, so a later `proc.wait()`/`poll()` returns at once. With `timeout`,
    raises subprocess.TimeoutExpired as `proc.wait(timeout)` does and leaves the child running.
    Nothing else may wait for the child meanwhile (no `poll()` from another thread).
    """
    if proc.returncode is not None:
        return proc.returncode, None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the code is all Popen can tell
            return proc.wait(), None
        if pid == proc.pid:
            break
        assert deadline is not None  # WNOHANG and still running
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout or 0.0)
        time.sleep(min(_POLL_S, left))
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, peak_rss_bytes(usage)
