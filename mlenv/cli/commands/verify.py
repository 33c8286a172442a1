"""`mlenv verify`: every difference between the environment (and store) and the lock."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.envs.materialize import verify_env
from mlenv.envs.store import Store
from mlenv.errors import InstallError
from mlenv.ops.install import system_detects
from mlenv.paths import project_env_dir

from ..context import Context
from ..output import emit_json

COMMANDS = ("verify",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="check the environment against the lock")
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    section = ctx.lock_section(ctx.lock(), args.target)
    differences = verify_env(
        section,
        project_env_dir(ctx.project_dir, section.name),
        ctx.environ.get("PATH"),
        Store(ctx.home),  # names the changed files of an extracted archive
        system_detects(
            ctx.project, section
        ),  # re-detect with the user's own recipes, not the lock's
    )
    if differences:
        raise InstallError(
            f"the environment of {section.name} differs from the lock in {len(differences)} place(s)",
            why="\n".join(differences),
            hint="run `mlenv install --force` to rebuild it from the lock",
            details={"target": section.name, "differences": differences},
        )
    ctx.reporter.info(f"environment {section.name} matches the lock")
    if ctx.options.json:
        emit_json({"version": 1, "ok": True, "target": section.name, "differences": []})
    return 0
