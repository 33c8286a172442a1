"""The live view of `mlenv explore` on a terminal: one status block, updated in place, drawn
from the driver's `Progress` snapshots (done, running, failed, left, ETA, the running point's
parameters). The reporter's one line per point still prints above it; off a terminal (and with
-q or --json) there is no live view, only those lines."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.text import Text

from mlenv.explore.progress import Observer, Progress

if TYPE_CHECKING:
    from rich.live import Live


def status_text(p: Progress) -> Group:
    """The status block of one snapshot."""
    eta = f" · ETA {_duration(p.eta)}" if p.eta is not None else ""
    head = (
        f"[bold]sweep {escape(p.sweep)}[/bold]: [green]done {p.done}[/green] · "
        f"[red]failed {p.failed}[/red] · left {p.left} of {p.total}{eta}"
    )
    lines = [Text.from_markup(head)]
    if p.running:
        lines.append(Text.from_markup(f"[cyan]▶ {p.running}[/cyan] {escape(p.label())}"))
    return Group(*lines)


class LiveView:
    """An observer of a sweep that draws on a terminal console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None

    def __call__(self, progress: Progress) -> None:
        if self.live is None:
            from rich.live import Live

            self.live = Live(
                status_text(progress),
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.live.start(refresh=True)
        else:
            self.live.update(status_text(progress), refresh=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


@contextlib.contextmanager
def live_view(console: Console, *, enabled: bool) -> Iterator[Observer | None]:
    """A `LiveView` for the sweep when `enabled` and the console is a terminal, else None."""
    if not (enabled and console.is_terminal):
        yield None
        return
    view = LiveView(console)
    try:
        yield view
    finally:
        view.stop()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
