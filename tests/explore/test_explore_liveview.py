"""The live view of `mlenv explore` on a terminal: it draws the driver's progress snapshots
(done, failed, left, the running point); off a terminal there is none."""

from __future__ import annotations

import io

from rich.console import Console

from mlenv.cli.liveview import LiveView, live_view, status_text
from mlenv.explore.progress import Progress


def snapshot(**changes: object) -> Progress:
    base: dict[str, object] = {"sweep": "digits", "total": 5, "done": 2, "failed": 1}
    base.update(changes)
    return Progress(**base)  # type: ignore[arg-type]


def rendered(console: Console, renderable: object) -> str:
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def test_the_status_shows_counts_eta_and_the_running_point() -> None:
    console = Console(force_terminal=True, file=io.StringIO(), width=100, color_system=None)
    text = rendered(
        console,
        status_text(snapshot(running="3f2a91c0aaaa", parameters=(("threads", 2),), eta=42.0)),
    )
    assert "done 2" in text and "failed 1" in text and "left 2 of 5" in text
    assert "ETA 42 s" in text and "3f2a91c0aaaa" in text and "threads=2" in text


def test_the_live_view_draws_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(force_terminal=True, file=out, width=100, color_system=None)
    with live_view(console, enabled=True) as observer:
        assert isinstance(observer, LiveView)
        observer(snapshot(done=0, failed=0, running="aaaa", parameters=(("x", 1),)))
        observer(snapshot(done=3, failed=1))
    text = out.getvalue()
    assert "done 3" in text and "failed 1" in text and "x=1" in text


def test_no_live_view_off_a_terminal_or_when_disabled() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    with live_view(plain, enabled=True) as observer:
        assert observer is None
    terminal = Console(force_terminal=True, file=io.StringIO())
    with live_view(terminal, enabled=False) as observer:
        assert observer is None
