"""`mlenv export`: the lock in other tools' formats (pip, PEP 751, conda, Docker)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlenv.ops import export as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("export",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="write the lock in another tool's format")
    p.add_argument(
        "--format",
        required=True,
        choices=op.FORMATS,
        metavar="F",
        help=f"one of {', '.join(op.FORMATS)}",
    )
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, help="write here, not to stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.export(ctx.project, args.format, target=args.target, output=args.output)
    data: dict[str, Any] = {"format": result.format, "target": result.target}
    if result.path is not None:
        return Outcome(data={**data, "path": str(result.path)})
    if not ctx.options.json:
        sys.stdout.write(result.text)
    return Outcome(data={**data, "content": result.text})
