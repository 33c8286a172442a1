"""`mlenv targets`: the known target files and the detected host."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from ..context import Context
from ..output import Outcome

COMMANDS = ("targets",)
COLUMNS = ("name", "os", "arch", "microarch", "python", "accelerator", "pypi-platform", "from")


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list known targets and the detected host")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    project = ctx.project
    host = project.host.to_dict()
    found = {n: (t.to_dict(), label) for n, (t, label) in sorted(project.index.targets.items())}
    if not ctx.options.json:
        _print(ctx, host, found)
    return Outcome(
        data={"host": host, "targets": {n: {"file": label, **d} for n, (d, label) in found.items()}}
    )


def _print(
    ctx: Context, host: dict[str, Any], found: dict[str, tuple[dict[str, Any], str]]
) -> None:
    table = Table(title="targets", title_justify="left")
    for col in COLUMNS:
        table.add_column(col)
    for name, (d, label) in {"host": (host, "detected"), **found}.items():
        acc = d.get("accelerator", {})
        acc_text = acc.get("kind", "none") + (f" {acc['cuda']}" if acc.get("cuda") else "")
        table.add_row(
            f"host ({d['name']})" if name == "host" else name,
            d.get("os"),
            d.get("arch"),
            d.get("microarch") or "-",
            d.get("python"),
            acc_text,
            d.get("pypi-platform") or "-",
            label,
        )
    ctx.console.print(table)
