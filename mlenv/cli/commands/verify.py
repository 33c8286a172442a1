"""`mlenv verify`: every difference between the environment (and store) and the lock."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.ops import verify as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("verify",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check the environment against the lock")
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.verify(ctx.project, args.target)
    if not result.ok:
        return Outcome(data=result.to_dict(), code=1, error=result.error())
    ctx.reporter.info(f"environment {result.section.name} matches the lock")
    return Outcome(data=result.to_dict())
