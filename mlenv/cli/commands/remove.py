"""`mlenv remove NAME…`: drop requirements from mlenv.yaml (comments kept), then re-resolve."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.ops import add as op

from ..context import Context
from ..output import Outcome
from .add import render

COMMANDS = ("remove",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="remove requirements from mlenv.yaml and re-resolve")
    p.add_argument("names", nargs="+", metavar="NAME", help="requirement names")
    p.add_argument(
        "--no-resolve", action="store_true", help="edit mlenv.yaml only; do not re-resolve"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.remove_requirements(ctx.project, args.names, resolve=not args.no_resolve)
    return render(result, ctx)
