"""Human output on stderr (rich), JSON on stdout, diagnostics rendered once."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from mlenv.errors import MlenvError


class ConsoleReporter:
    """The reporter the library stages talk to; quiet progress lines on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._totals: dict[str, int | None] = {}

    def info(self, message: str) -> None:
        self.console.print(f"[dim]·[/dim] {escape(message)}", highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)

    def start(self, label: str, total: int | None) -> None:
        if label not in self._totals:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            self.console.print(f"[dim]↓[/dim] downloading {escape(label)}{size}", highlight=False)
        self._totals[label] = total

    def advance(self, label: str, amount: int) -> None:
        pass

    def done(self, label: str) -> None:
        self._totals.pop(label, None)


def make_console() -> Console:
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:  # logs and CI: room for tables
        console = Console(stderr=True, highlight=False, width=120)
    return console


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


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
