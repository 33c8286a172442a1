"""`mlenv resolve`: solve the manifest for its targets and write mlenv.lock."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.ops import resolve as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("resolve",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="solve mlenv.yaml into mlenv.lock")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="T",
        help="lock only this target (repeatable; default: the manifest's targets)",
    )
    p.add_argument("--upgrade", action="store_true", help="release every existing pin")
    p.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="N",
        help="release the pin of this package (repeatable)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the lock is missing, stale or lacks a target; write nothing",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    project = ctx.project
    if args.check:
        op.check(project, args.target or None)
        project.reporter.info(f"{project.lock_path.name} is up to date")
        return Outcome(data={"lock": str(project.lock_path), "stale": []})
    result = op.resolve(
        project,
        targets=args.target or None,
        upgrade=args.upgrade,
        upgrade_packages=args.upgrade_package,
    )
    for name in result.solved:
        section = result.lock.targets[name]
        ctx.console.print(
            f"  [bold]{name}[/bold]: {len(section.packages)} recipes, {len(section.pypi)} "
            f"PyPI packages, {len(section.artifacts)} artifacts"
        )
    lock = result.lock
    return Outcome(
        data={
            "lock": str(project.lock_path),
            "changed": result.changed,
            "targets": {n: lock.targets[n].to_dict() for n in sorted(lock.targets)},
        }
    )
