"""Human output on stderr (rich), JSON on stdout, diagnostics rendered once."""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from mlenv.errors import MlenvError

if TYPE_CHECKING:  # rich.progress is imported on the first bar: start-up stays fast
    from rich.progress import Progress, TaskID


class ConsoleReporter:
    """The reporter the library stages talk to, on stderr.

    On a terminal, each download is a progress bar (bytes, speed, time left) that becomes one
    line when it ends; elsewhere (logs, CI, pipes) each download is one line when it starts.
    Bars never touch stdout (no stream redirection), so `--json` stays clean.
    """

    def __init__(self, console: Console, verbosity: int = 0) -> None:
        self.console = console
        self.verbosity = verbosity  # -1: errors only (-q); 0: the default; 1+: -v, -vv
        self._totals: dict[str, int | None] = {}
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.console.print(f"[dim]·[/dim] {escape(message)}", highlight=False)

    def debug(self, message: str) -> None:
        if self.verbosity >= 1:
            self.console.print(f"[dim]  {escape(message)}[/dim]", highlight=False)

    def warn(self, message: str) -> None:
        if self.verbosity < 0:
            return
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)

    def start(self, label: str, total: int | None) -> None:
        if self.console.is_terminal:
            progress = self._bars()
            task = self._tasks.get(label)
            if task is None:  # a retry starts the same label again: reset its bar
                self._tasks[label] = progress.add_task(_short(label), total=total)
            else:
                progress.reset(task, total=total)
        elif label not in self._totals:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            self.console.print(f"[dim]↓[/dim] downloading {escape(label)}{size}", highlight=False)
        self._totals[label] = total

    def advance(self, label: str, amount: int) -> None:
        task = self._tasks.get(label)
        if task is not None and self._progress is not None:
            self._progress.advance(task, amount)

    def done(self, label: str) -> None:
        self._totals.pop(label, None)
        task = self._tasks.pop(label, None)
        progress = self._progress
        if task is None or progress is None:
            return
        state = next(t for t in progress.tasks if t.id == task)
        elapsed = state.finished_time or state.elapsed or 0.0
        progress.remove_task(task)
        if not self._tasks:
            self.close()
        self.console.print(
            f"[dim]↓[/dim] {escape(label)} [dim]{size_text(int(state.completed))} in "
            f"{elapsed:.1f} s[/dim]",
            highlight=False,
        )

    def close(self) -> None:
        """Stop the bars (also at exit, should a download end in an error)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def _bars(self) -> Progress:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as _Progress

            self._progress = _Progress(
                TextColumn("[dim]↓[/dim] {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
            atexit.register(self.close)
        return self._progress


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _short(label: str, width: int = 48) -> str:
    return escape(label if len(label) <= width else label[: width - 1] + "…")


def make_console(*, quiet: bool = False) -> Console:
    """The console on stderr: plain text when stderr is no terminal or NO_COLOR is set (no
    colour and no bold either); `quiet` (-q) prints nothing."""
    plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: set and not empty
    console = Console(
        stderr=True, highlight=False, quiet=quiet, color_system=None if plain else "auto"
    )
    if not console.is_terminal and "COLUMNS" not in os.environ:  # logs and CI: room for tables
        console.width = 120
    return console


@contextlib.contextmanager
def stdout_to_stderr(active: bool) -> Iterator[None]:
    """While active (--json), whatever writes to stdout (a stray print, uv, the harness, the
    child of `exec`) writes to stderr instead, so the envelope is alone on stdout."""
    if not active:
        yield
        return
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved_fd = _point_fd(1, at=2)
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved
        if sys.__stdout__ is not None:
            sys.__stdout__.flush()
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def _point_fd(fd: int, *, at: int) -> int | None:
    """Make `fd` a copy of `at`; returns a copy of the old `fd` to restore (None: no such fd)."""
    try:
        saved = os.dup(fd)
    except OSError:
        return None
    try:
        os.dup2(at, fd)
    except OSError:
        os.close(saved)
        return None
    return saved


def render_error(console: Console, error: MlenvError) -> None:
    console.print(f"[bold red]error:[/bold red] {escape(error.message)}")
    if error.where:
        console.print(f"  [cyan]where:[/cyan] {escape(error.where)}")
    for p in error.problems:
        lines = p.message.splitlines() or [""]
        console.print(f"  [cyan]{escape(p.where)}:[/cyan] {escape(lines[0])}")
        for extra in lines[1:]:
            console.print(f"      {escape(extra)}", highlight=False)
    if error.why:
        first, *rest = error.why.splitlines() or [""]
        console.print(f"  [cyan]why:[/cyan] {escape(first)}")
        for line in rest:
            console.print(f"       {escape(line)}")
    if error.hint:
        console.print(f"  [green]hint:[/green] {escape(error.hint)}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command hands back to the edge: its `data` (the `--json` envelope's), its exit
    code, and for a failure that still has data (drift, differing locks) the error."""

    data: Any = None
    code: int = 0
    error: MlenvError | None = None


def envelope(command: str, *, data: Any = None, error: MlenvError | None = None) -> dict[str, Any]:
    """CONTRACTS §9: one JSON document per command, success or failure."""
    return {
        "version": 1,
        "command": command,
        "ok": error is None,
        "data": data,
        "error": error.to_dict() if error is not None else None,
    }


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


_OS_HINTS = {
    errno.EEXIST: "a file or folder of that name is in the way: move it aside",
    errno.ENOTDIR: "a part of that path is a file where a folder is expected: move it aside",
    errno.EISDIR: "that path is a folder where a file is expected: name a file",
    errno.ENOENT: "check that the path exists (and that every folder above it does)",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions and the owner of that path",
    errno.ENOSPC: "free some disk space, or point MLENV_HOME at a larger disk",
    errno.EROFS: "that file system is read-only: work in a writable folder",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ELOOP: "that path holds a loop of symbolic links",
}


def os_error(e: OSError) -> MlenvError:
    """The diagnostic for an operating-system error a user can cause (a file where a folder
    should be, a full disk, no permission): named path, the system's reason, a hint."""
    why = e.strerror or str(e) or type(e).__name__
    paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
    where = " -> ".join(paths) or None
    # a rename's trouble is at its destination (a folder, or a file where a folder should be)
    named = str(e.filename2) if e.filename2 is not None else paths[0] if paths else None
    message = f"{named}: {why[:1].lower()}{why[1:]}" if named else why
    hint = _OS_HINTS.get(e.errno or 0, "check that path, then run the command again")
    return MlenvError(message, where=where, why=f"{type(e).__name__} (errno {e.errno})", hint=hint)
