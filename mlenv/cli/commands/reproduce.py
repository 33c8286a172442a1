"""`mlenv reproduce`: verify a bundle, install it offline into its own folder, re-run the recorded
scenarios and modes, compare, and write a report with a verdict per artifact-evaluation badge."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlenv.errors import RunError
from mlenv.ops import reproduce as op

from ..context import Context
from ..output import Outcome
from ..report import badge_table, machines_table

COMMANDS = ("reproduce",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="install a bundle offline, re-run its results and compare")
    p.add_argument("bundle", metavar="BUNDLE|DIR", help="a file `mlenv pack` wrote, or its folder")
    p.add_argument(
        "--tolerance",
        metavar="PCT",
        type=float,
        default=5.0,
        help="how far samples/s may move, in percent either way (default 5); widened by the "
        "spread the repeated runs themselves show",
    )
    p.add_argument(
        "--repeat",
        metavar="N",
        type=int,
        help="measure each performance result N times and compare medians (default: as often "
        "as it was recorded, at least 3; 5 for a single recorded run)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="where to unpack, install, run and report (default ./reproduction/)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    out = args.out or Path("reproduction")
    result = op.reproduce(
        ctx.project, Path(args.bundle), out=out, tolerance=args.tolerance, repeat=args.repeat
    )
    rep = result.reproduction
    ctx.console.print(badge_table(rep))
    ctx.console.print(machines_table(rep))
    for line in rep.widenings():
        ctx.console.print(line)
    ctx.console.print(f"report: {result.reports['md']} and {result.reports['html']}")
    data = {k: v for k, v in rep.to_dict().items() if k not in ("version", "ok")}
    if rep.reproduced:
        return Outcome(data=data)
    lost = [b for b in rep.badges if not b.awarded]
    error = RunError(
        f"not reproduced: no {', no '.join(b.name for b in lost)} badge",
        why="; ".join(f"{b.name}: {b.reasons[0]}" for b in lost if b.reasons) or None,
        hint=f"see {result.reports['md']} for each figure",
    )
    return Outcome(data=data, code=1, error=error)
