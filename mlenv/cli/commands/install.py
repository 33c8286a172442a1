"""`mlenv install`: materialize the environment of one lock target and print its path."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..context import Context
from ..envsupport import current_lock, ensure_env
from ..output import emit_json

COMMANDS = ("install",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="materialize the locked environment")
    p.add_argument(
        "--target", metavar="T", help="the lock target (default: the one matching this machine)"
    )
    p.add_argument("--frozen", action="store_true", help="use the lock as it is; never resolve")
    p.add_argument(
        "--force", action="store_true", help="rebuild even when the environment is current"
    )
    p.add_argument(
        "--allow-drift",
        action="store_true",
        help="install even when a locked system tool's version differs (recorded in env.json)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    lock = current_lock(ctx, frozen=args.frozen)
    section = ctx.lock_section(lock, args.target)
    env, built = ensure_env(ctx, section, force=args.force, allow_drift=args.allow_drift)
    if not built:
        ctx.reporter.info(f"environment {section.name} is up to date")
    if ctx.options.json:
        emit_json(
            {
                "version": 1,
                "ok": True,
                "target": section.name,
                "path": str(env.path),
                "built": built,
            }
        )
    else:
        sys.stdout.write(f"{env.path}\n")
    return 0
