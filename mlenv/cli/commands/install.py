"""`mlenv install`: materialize the environment of one lock target and print its path."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlenv.ops import install as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("install",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="materialize the locked environment")
    p.add_argument(
        "--target", metavar="T", help="the lock target (default: the one matching this machine)"
    )
    add_lock_flags(p)
    p.add_argument(
        "--force", action="store_true", help="rebuild even when the environment is current"
    )
    p.add_argument(
        "--allow-drift",
        action="store_true",
        help="install even when a locked system tool's version differs (recorded in env.json)",
    )
    p.set_defaults(func=run)


def add_lock_flags(p: Any) -> None:
    """--frozen and --locked, as uv has them (CONTRACTS §9)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--frozen", action="store_true", help="use the lock as it is; never resolve")
    group.add_argument(
        "--locked",
        action="store_true",
        help="fail (exit 1) instead of re-resolving when the lock is missing or out of date",
    )


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.install(
        ctx.project,
        target=args.target,
        frozen=args.frozen,
        locked=args.locked,
        force=args.force,
        allow_drift=args.allow_drift,
    )
    if not ctx.options.json:
        sys.stdout.write(f"{result.env.path}\n")
    return Outcome(
        data={"target": result.section.name, "path": str(result.env.path), "built": result.built}
    )
