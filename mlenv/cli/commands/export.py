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
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="write here, not to stdout (dockerfile: the build context folder, or its Dockerfile)",
    )
    p.add_argument(
        "--mlenv-wheel",
        metavar="PATH",
        type=Path,
        help="dockerfile: the mlenv wheel the image installs (default: built from the checkout)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.export(
        ctx.project,
        args.format,
        target=args.target,
        output=args.output,
        mlenv_wheel=args.mlenv_wheel,
    )
    data: dict[str, Any] = {"format": result.format, "target": result.target}
    if result.context is not None:
        data.update(context=str(result.context), files=[str(f) for f in result.files])
    if result.path is not None:
        return Outcome(data={**data, "path": str(result.path)})
    if not ctx.options.json:
        sys.stdout.write(result.text)
    return Outcome(data={**data, "content": result.text})
