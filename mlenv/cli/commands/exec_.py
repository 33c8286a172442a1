"""`mlenv exec -- CMD…` and `mlenv shell`: run inside the environment."""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

from mlenv.errors import UsageError
from mlenv.ops.install import activated, install

from ..context import Context
from ..output import Outcome
from .install import add_lock_flags

COMMANDS = ("exec", "shell")


def add_parser(sub: Any, name: str) -> None:
    if name == "exec":
        p = sub.add_parser(name, help="run a command inside the environment")
        p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS…]")
    else:
        p = sub.add_parser(name, help="start a shell inside the environment")
        p.set_defaults(cmd=None)
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    add_lock_flags(p)
    p.add_argument(
        "--allow-drift",
        action="store_true",
        help="install even when a locked system tool's version differs (recorded in env.json)",
    )
    p.set_defaults(func=run)


def command_line(args: argparse.Namespace, ctx: Context) -> list[str]:
    """exec's command after `--`, or the user's shell."""
    cmd = list(args.cmd) if args.cmd is not None else [ctx.environ.get("SHELL", "/bin/sh")]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("mlenv exec needs a command", hint="mlenv exec -- python -c 'print(1)'")
    return cmd


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    cmd = command_line(args, ctx)
    project = ctx.project
    result = install(
        project,
        target=args.target,
        frozen=args.frozen,
        locked=args.locked,
        allow_drift=args.allow_drift,
    )
    try:
        env = activated(result.env, project.environ)
        code = subprocess.run(cmd, env=env, check=False).returncode
    except FileNotFoundError as e:
        raise UsageError(f"command not found: {cmd[0]}", hint="check the command name") from e
    except PermissionError as e:
        raise UsageError(f"cannot execute {cmd[0]}: {e.strerror}", hint="check its mode") from e
    code = 128 - code if code < 0 else code  # died of signal N: 128+N, as shells report it
    data = {"target": result.section.name, "path": str(result.env.path), "returncode": code}
    return Outcome(data=data, code=code)
