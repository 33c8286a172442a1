"""`mlenv exec -- CMD…` and `mlenv shell`: run inside the environment."""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

from mlenv.envs.activation import activation
from mlenv.errors import UsageError
from mlenv.ops.install import ensure_env
from mlenv.ops.resolve import current_lock

from ..context import Context
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


def run(args: argparse.Namespace, ctx: Context) -> int:
    cmd = list(args.cmd) if args.cmd is not None else [ctx.environ.get("SHELL", "/bin/sh")]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("mlenv exec needs a command", hint="mlenv exec -- python -c 'print(1)'")
    section = ctx.lock_section(
        current_lock(ctx.project, frozen=args.frozen, locked=args.locked), args.target
    )
    env, _ = ensure_env(ctx.project, section, allow_drift=args.allow_drift)
    try:
        code = subprocess.run(cmd, env=activation(env, dict(ctx.environ)), check=False).returncode
    except FileNotFoundError as e:
        raise UsageError(f"command not found: {cmd[0]}", hint="check the command name") from e
    except PermissionError as e:
        raise UsageError(f"cannot execute {cmd[0]}: {e.strerror}", hint="check its mode") from e
    return 128 - code if code < 0 else code  # died of signal N: 128+N, as shells report it
