"""`mlenv init [DIR] [--example NAME]`: write a starter mlenv.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlenv.errors import UsageError
from mlenv.paths import builtin_recipes_dir

from ..context import Context
from ..output import Outcome

STARTER = """\
# mlenv manifest: what this benchmark needs. `mlenv resolve` locks it, `mlenv run` runs it.
name: {name}
targets: [host]
requires:
  - onnxruntime >=1.17
"""


COMMANDS = ("init",)


def examples_dir(ctx: Context) -> Path:
    return ctx.project.builtin_dir / "examples"


def examples(folder: Path) -> dict[str, str]:
    """name -> description (the file's first comment line) of every ready manifest."""
    out = {}
    for path in sorted(folder.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        text = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        out[path.stem] = text.removeprefix("mlenv example:").strip()
    return out


def add_parser(sub: Any, name: str) -> None:
    known = ", ".join(examples(builtin_recipes_dir() / "examples")) or "none"
    p = sub.add_parser(name, help="write a starter mlenv.yaml (or a ready example)")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), help="folder (default: here)")
    p.add_argument("--example", metavar="NAME", help=f"start from a ready example: {known}")
    p.add_argument("--list-examples", action="store_true", help="list the ready examples and exit")
    p.add_argument("--force", action="store_true", help="overwrite an existing mlenv.yaml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.list_examples:
        found = examples(examples_dir(ctx))
        if not ctx.options.json:
            for example, text in found.items():
                ctx.console.print(f"{example:24} {text}", markup=False, highlight=False)
        return Outcome(data={"examples": found})
    folder: Path = args.dir.absolute()
    dest = folder / "mlenv.yaml"
    if dest.exists() and not args.force:
        raise UsageError(f"{dest} already exists", hint="pass --force to overwrite it")
    if args.example:
        text = _example_text(ctx, args.example)
    else:
        text = STARTER.format(name=folder.name or "benchmark")
    folder.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    ctx.reporter.info(f"wrote {dest}; next: `mlenv resolve` then `mlenv run`")
    return Outcome(data={"manifest": str(dest), "example": args.example})


def _example_text(ctx: Context, name: str) -> str:
    known = examples(examples_dir(ctx))
    if name not in known:  # a name, never a path
        raise UsageError(
            f"no example named {name!r}",
            hint=f"examples: {', '.join(known)} (`mlenv init --list-examples` describes them)",
        )
    return (examples_dir(ctx) / f"{name}.yaml").read_text(encoding="utf-8")
