"""`mlenv targets`: the known target files and the detected host."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from ..context import Context
from ..output import emit_json

COMMANDS = ("targets",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list known targets and the detected host")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    host = ctx.host
    rows = [("host", host.to_dict(), "detected")]
    rows += [(n, t.to_dict(), label) for n, (t, label) in sorted(ctx.index.targets.items())]
    if ctx.options.json:
        emit_json(
            {
                "version": 1,
                "host": host.to_dict(),
                "targets": {n: {"file": label, **d} for n, d, label in rows[1:]},
            }
        )
        return 0
    table = Table(title="targets", title_justify="left")
    for col in (
        "name",
        "os",
        "arch",
        "microarch",
        "python",
        "accelerator",
        "pypi-platform",
        "from",
    ):
        table.add_column(col)
    for name, d, label in rows:
        acc = d.get("accelerator", {})
        acc_text = acc.get("kind", "none") + (f" {acc['cuda']}" if acc.get("cuda") else "")
        shown = f"host ({d['name']})" if name == "host" else name
        table.add_row(
            shown,
            d.get("os"),
            d.get("arch"),
            d.get("microarch") or "-",
            d.get("python"),
            acc_text,
            d.get("pypi-platform") or "-",
            label,
        )
    ctx.console.print(table)
    return 0
