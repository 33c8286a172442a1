"""`mlenv tree`: the solved graph of the lock (as `uv tree` / `pixi tree` draw theirs)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlenv.errors import UsageError
from mlenv.ops import tree as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("tree",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="print the solved dependency graph of the lock")
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.add_argument("--depth", metavar="N", type=int, help="show N levels below the requirements")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.depth is not None and args.depth < 0:
        raise UsageError(
            f"--depth must be 0 or more, not {args.depth}",
            where="the command line",
            hint="--depth 0 shows the manifest's requirements alone",
        )
    result = op.tree(ctx.project, target=args.target, depth=args.depth)
    if not ctx.options.json:
        sys.stdout.write("".join(f"{line}\n" for line in result.lines()))
        if any("(*)" in line for line in result.lines()):
            ctx.reporter.info("(*) its dependencies are shown above")
    return Outcome(data=result.to_dict())
