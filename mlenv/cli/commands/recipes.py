"""`mlenv recipes list|show|lint`: browse and check recipes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from mlenv.errors import FormatError, Problem, UsageError
from mlenv.recipe import KINDS, Recipe
from mlenv.yamlio import Problems, parse_yaml, read_text

from ..context import Context
from ..output import emit_json

COMMANDS = ("recipes",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="browse and check recipes")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="list recipes")
    lst.add_argument("--kind", choices=KINDS)
    show = rsub.add_parser("show", help="show one recipe")
    show.add_argument("name")
    lint = rsub.add_parser("lint", help="check recipe files (default: the whole index)")
    lint.add_argument("paths", nargs="*", type=Path)
    p.set_defaults(func=run)


def _summary(recipe: Recipe, label: str) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "kind": recipe.kind,
        "summary": recipe.summary,
        "versions": [v.text for v in recipe.versions],
        "provides": list(recipe.provides),
        "variants": {
            v.name: {"values": list(v.values), "default": v.default} for v in recipe.variants
        },
        "file": label,
    }


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "lint":
        return _lint(args.paths, ctx)
    index = ctx.index
    if args.action == "show":
        located = index.get(args.name)
        if located is None:
            raise UsageError(f"no recipe named {args.name!r}", hint="see `mlenv recipes list`")
        data = _summary(located.recipe, located.label)
        if ctx.options.json:
            emit_json({"version": 1, "recipe": data})
        else:
            path = Path(str(located.root.path), located.relpath)
            ctx.console.print(f"[bold]{located.label}[/bold]\n")
            ctx.console.print(read_text(path), markup=False)
        return 0
    rows = [
        _summary(loc.recipe, loc.label)
        for loc in (index.recipes[n] for n in index.names())
        if not args.kind or loc.recipe.kind == args.kind
    ]
    if ctx.options.json:
        emit_json({"version": 1, "recipes": rows})
        return 0
    table = Table(title="recipes", title_justify="left")
    for col in ("name", "kind", "versions", "variants", "summary"):
        table.add_column(col)
    for r in rows:
        variants = " ".join(f"{k}={'|'.join(v['values'])}" for k, v in r["variants"].items())
        table.add_row(
            r["name"], r["kind"], ", ".join(r["versions"][:4]), variants or "-", r["summary"]
        )
    ctx.console.print(table)
    return 0


def _lint(paths: list[Path], ctx: Context) -> int:
    if not paths:
        count = len(ctx.index.recipes)  # loading the index checks every file
        ctx.reporter.info(f"{count} recipes and {len(ctx.index.targets)} targets are valid")
        return 0
    files = [f for p in paths for f in (sorted(p.rglob("*.yaml")) if p.is_dir() else [p])]
    problems: list[Problem] = []
    for file in files:
        text = read_text(file)
        try:
            data = parse_yaml(text, str(file))
        except FormatError as e:
            problems.append(Problem(where=e.where or str(file), message=e.message))
            continue
        collector = Problems(str(file), text)
        if file.parent.name != "targets":
            recipe = Recipe.from_dict(data, collector, file=str(file))
            if not collector and recipe.kind + "s" != file.parent.name:
                collector.add("kind", f"a {recipe.kind} recipe belongs under {recipe.kind}s/")
            for entry in recipe.install:
                if getattr(entry.source, "md5", None) and not getattr(entry.source, "sha256", None):
                    ctx.reporter.warn(
                        f"{file}: an artifact has only an md5 (use `mlenv recipes checksum`)"
                    )
        problems.extend(collector.problems())
    if problems:
        raise FormatError(
            f"{len(problems)} problem(s) in {len(files)} file(s)",
            problems=problems,
            hint="fix the fields named above",
        )
    ctx.reporter.info(f"{len(files)} file(s) are valid")
    return 0
