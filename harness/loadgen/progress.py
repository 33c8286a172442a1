"""Live progress while LoadGen runs, and the watchdog that ends a hung test.

A thread wakes 4 times a second and reads the dispatcher's counters (samples issued, samples
completed): on a terminal it redraws one status line (elapsed time against the minimum
duration, samples done); elsewhere it stays quiet and one line is printed at the end. When
samples are outstanding and none completes for ``watchdog_s`` seconds, the test is hung (a
backend call that never returns): it says so and ends the process with status 1.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TextIO

Counters = Callable[[], tuple[int, int]]  # (issued, completed) samples
INTERVAL_S = 0.25


class Progress:
    def __init__(
        self,
        counters: Counters,
        *,
        stream: TextIO,
        label: str,
        min_duration_s: float | None,
        expected_samples: int | None,
        watchdog_s: float,
        live: bool,
        on_hang: Callable[[str], None] | None = None,
    ) -> None:
        self._counters = counters
        self._stream = stream
        self._label = label
        self._min_duration_s = min_duration_s
        self._expected = expected_samples
        self._watchdog_s = watchdog_s
        self._live = live
        self._on_hang = on_hang or self._exit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlenv-progress", daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> Progress:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        line = self.line()
        if self._live:
            self._stream.write(f"\r\x1b[2K{line}\n")
        else:
            self._stream.write(f"{line}\n")
        self._stream.flush()

    def line(self) -> str:
        _, completed = self._counters()
        elapsed = time.monotonic() - self._start
        parts = [f"harness: {self._label}", f"{elapsed:.1f} s"]
        if self._min_duration_s:
            parts[-1] += f" of >= {self._min_duration_s:.1f} s"
        done = f"{completed:,} samples"
        if self._expected:
            done = f"{completed:,} of {self._expected:,} samples"
        parts.append(done)
        return " · ".join(parts)

    def _run(self) -> None:
        last_completed = -1
        last_change = time.monotonic()
        while not self._stop.wait(INTERVAL_S):
            issued, completed = self._counters()
            now = time.monotonic()
            if completed != last_completed or issued <= completed:
                last_completed = completed
                last_change = now
            elif now - last_change > self._watchdog_s:
                self._on_hang(
                    f"error: no sample completed in {self._watchdog_s:g} s while "
                    f"{issued - completed} were due: the backend seems hung "
                    "(hint: see the model and backend; the run config's watchdog_s sets the limit)"
                )
                return
            if self._live:
                self._stream.write(f"\r\x1b[2K{self.line()}")
                self._stream.flush()

    def _exit(self, message: str) -> None:
        self._stream.write(f"\n{message}\n")
        self._stream.flush()
        os._exit(1)  # LoadGen waits for the hung samples for ever: no clean way out
