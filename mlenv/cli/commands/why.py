"""`mlenv why NAME`: every chain from a manifest requirement to NAME (an inverted tree)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlenv.ops import tree as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("why",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="show why a package or pin is in the lock")
    p.add_argument("name", help="a recipe package, or a PyPI/conda/artifact pin name")
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.why(ctx.project, args.name, target=args.target)
    if not ctx.options.json:
        sys.stdout.write("".join(f"{line}\n" for line in result.lines()))
    return Outcome(data=result.to_dict())
