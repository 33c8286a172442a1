"""`mlenv pack`: one archive that installs and re-runs a lock section with no network at all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlenv.ops import pack as op

from ..context import Context
from ..output import Outcome
from .install import add_lock_flags

COMMANDS = ("pack",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="write an offline bundle of the lock, its files and its results")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="the archive to write (.tar, or .tar.gz); default <name>-<target>.mlenv.tar "
        "beside the manifest",
    )
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    add_lock_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = op.pack(
        ctx.project, output=args.output, target=args.target, frozen=args.frozen, locked=args.locked
    )
    ctx.console.print(
        f"[bold]{result.path}[/bold]: {result.files} files, {result.size / 1e6:.1f} MB, "
        f"{result.results} result(s) of {result.target}"
    )
    ctx.console.print(f"  sha256 {result.sha256}  (give it to whoever checks the bundle)")
    if not ctx.options.json:
        sys.stdout.write(f"{result.path}\n")
    return Outcome(
        data={
            "bundle": str(result.path),
            "sha256": result.sha256,
            "size": result.size,
            "target": result.target,
            "files": result.files,
            "results": result.results,
            "skipped_results": result.skipped_results,
            "local": list(result.local),
            "builtin": result.builtin,
        }
    )
