"""`mlenv recipes list|show|lint|checksum`: browse, check and complete recipes.

The work is `mlenv.ops.recipes`; this module parses and renders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from mlenv.ops import recipes as op
from mlenv.recipe import KINDS
from mlenv.yamlio import read_text

from ..context import Context
from ..output import Outcome

COMMANDS = ("recipes",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="browse, check and complete recipes")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="list recipes")
    lst.add_argument("--kind", choices=KINDS)
    show = rsub.add_parser("show", help="show one recipe")
    show.add_argument("name")
    lint = rsub.add_parser(
        "lint", help="check recipe, target and example files (default: the whole index)"
    )
    lint.add_argument("paths", nargs="*", type=Path)
    checksum = rsub.add_parser(
        "checksum",
        help="download a recipe's md5-only artifacts, check the md5, write their sha256 into it",
    )
    checksum.add_argument("name")
    checksum.add_argument(
        "--update",
        action="store_true",
        help="rewrite the sha256 (and size) of its files beside the recipe after they changed",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.action == "lint":
        return _lint(args.paths, ctx)
    if args.action == "checksum":
        return _update(args.name, ctx) if args.update else _checksum(args.name, ctx)
    if args.action == "show":
        info = op.show(ctx.project, args.name)
        if not ctx.options.json:  # the file's label on stderr, the YAML as it is on stdout
            ctx.console.print(f"[bold]{info.file}[/bold]")
            text = read_text(info.path)
            sys.stdout.write(text if text.endswith("\n") else f"{text}\n")
            sys.stdout.flush()
        return Outcome(data={"recipe": info.to_dict()})
    rows = op.list_recipes(ctx.project, args.kind)
    if not ctx.options.json:
        _print_list(ctx, rows)
    return Outcome(data={"recipes": [r.to_dict() for r in rows]})


def _print_list(ctx: Context, rows: tuple[op.RecipeInfo, ...]) -> None:
    table = Table(title="recipes", title_justify="left")
    for col in ("name", "kind", "versions", "variants", "summary"):
        table.add_column(col)
    for r in rows:
        variants = " ".join(f"{k}={'|'.join(v['values'])}" for k, v in r.variants.items())
        table.add_row(r.name, r.kind, ", ".join(r.versions[:4]), variants or "-", r.summary)
    ctx.console.print(table)


def _lint(paths: list[Path], ctx: Context) -> Outcome:
    result = op.lint(ctx.project, paths)
    for warning in result.warnings:
        ctx.reporter.warn(warning)
    if paths:
        ctx.reporter.info(f"{result.files} file(s) are valid")
    else:
        ctx.reporter.info(
            f"{result.recipes} recipes, {result.targets} targets and {result.files} examples "
            "are valid"
        )
    return Outcome(data=result.to_dict())


def _checksum(name: str, ctx: Context) -> Outcome:
    result = op.checksum(ctx.project, name)
    if not result.artifacts:
        ctx.reporter.info(f"{name}: every artifact already has its sha256 ({result.file})")
    for a in result.artifacts:
        ctx.reporter.info(f"md5 {a.md5} matches {a.url}; wrote sha256 {a.sha256}")
    if result.artifacts:
        ctx.reporter.info(f"updated {result.file} ({result.path})")
    return Outcome(data=result.to_dict())


def _update(name: str, ctx: Context) -> Outcome:
    result = op.checksum_update(ctx.project, name)
    if not result.updated:
        ctx.reporter.info(f"{name}: every local file matches its sha256 ({result.file})")
    for u in result.updated:
        ctx.reporter.info(f"{u.url}: sha256 {u.old or '-'} → {u.new} ({u.size} bytes)")
    if result.updated:
        ctx.reporter.info(f"updated {result.file}; run `mlenv resolve` to write the new lock")
    return Outcome(data=result.to_dict())
