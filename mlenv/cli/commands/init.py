"""`mlenv init [DIR] [--example NAME]`: write a starter mlenv.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlenv.errors import UsageError

from ..context import Context

STARTER = """\
# mlenv manifest: what this benchmark needs. `mlenv resolve` locks it, `mlenv run` runs it.
name: {name}
targets: [host]
requires:
  - onnxruntime >=1.17
"""


COMMANDS = ("init",)


def examples_dir(ctx: Context) -> Path:
    return ctx.builtin_dir / "examples"


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="write a starter mlenv.yaml")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), help="folder (default: here)")
    p.add_argument("--example", metavar="NAME", help="start from a ready example (e.g. digits)")
    p.add_argument("--force", action="store_true", help="overwrite an existing mlenv.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    folder: Path = args.dir.absolute()
    dest = folder / "mlenv.yaml"
    if dest.exists() and not args.force:
        raise UsageError(f"{dest} already exists", hint="pass --force to overwrite it")
    if args.example:
        source = examples_dir(ctx) / f"{args.example}.yaml"
        if not source.exists():
            known = ", ".join(sorted(p.stem for p in examples_dir(ctx).glob("*.yaml")))
            raise UsageError(f"no example named {args.example!r}", hint=f"examples: {known}")
        text = source.read_text(encoding="utf-8")
    else:
        text = STARTER.format(name=folder.name or "benchmark")
    folder.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    ctx.reporter.info(f"wrote {dest}; next: `mlenv resolve` then `mlenv run`")
    return 0
