"""`mlenv diff A.lock B.lock`: what was added, removed or changed, per target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape

from mlenv.errors import MlenvError, UsageError
from mlenv.lock import Lock, load_lock
from mlenv.lockdiff import Change, LockDiff, diff_locks

from ..context import Context
from ..output import Outcome

COMMANDS = ("diff",)
_MARK = {"added": "[green]+[/green]", "removed": "[red]-[/red]", "changed": "[yellow]~[/yellow]"}


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="what differs between two lock files, per target")
    p.add_argument("a", metavar="A.lock", type=Path, help="the old lock")
    p.add_argument("b", metavar="B.lock", type=Path, help="the new lock")
    p.add_argument(
        "--exit-code", action="store_true", help="exit 1 when the locks differ (as git diff does)"
    )
    p.set_defaults(func=run)


def _load(path: Path) -> Lock:
    if not path.is_file():
        raise UsageError(
            f"no lock file at {path}", hint="pass two lock files: mlenv diff OLD.lock NEW.lock"
        )
    return load_lock(path)


def _line(change: Change) -> str:
    name = escape(change.name)
    if change.kind == "added":
        text = f"{name} {escape(change.new or '')}"
    elif change.kind == "removed":
        text = f"{name} {escape(change.old or '')}"
    elif change.old == change.new:
        text = f"{name} {escape(change.new or '')} [dim]({', '.join(change.detail)} changed)[/dim]"
    else:
        text = f"{name} {escape(change.old or '')} → {escape(change.new or '')}"
    return f"    {_MARK[change.kind]} {text}"


def render(ctx: Context, diff: LockDiff, a: Path, b: Path) -> None:
    console = ctx.console
    if diff.identical:
        console.print(f"{a} and {b} lock the same stacks")
        return
    for change in diff.inputs:
        console.print(f"inputs: {change.name} changed ({change.old} → {change.new})")
    for target in diff.targets:
        if target.status == "same":
            console.print(f"[bold]{target.name}[/bold]: unchanged")
            continue
        counts = {k: sum(1 for c in target.changes if c.kind == k) for k in _MARK}
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        console.print(f"[bold]{target.name}[/bold]: {target.status} ({summary})")
        for category in dict.fromkeys(c.category for c in target.changes):
            console.print(f"  {category}")
            for change in (c for c in target.changes if c.category == category):
                console.print(_line(change), highlight=False)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    diff = diff_locks(_load(args.a), _load(args.b))
    render(ctx, diff, args.a, args.b)
    data = {"a": str(args.a), "b": str(args.b), **diff.to_dict()}
    if args.exit_code and not diff.identical:
        changed = [t.name for t in diff.targets if t.status != "same"]
        error = MlenvError(
            f"{args.a} and {args.b} differ",
            why=f"targets that differ: {', '.join(changed)}" if changed else "their inputs differ",
            hint="the differences are listed above; without --exit-code, diff exits 0",
        )
        return Outcome(data=data, code=1, error=error)
    return Outcome(data=data)
