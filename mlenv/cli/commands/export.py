"""`mlenv export`: the lock in other tools' formats (pip, PEP 751, conda, Docker)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlenv import __version__
from mlenv.errors import UsageError
from mlenv.exporters import FORMATS, ExportContext, export

from ..context import Context
from ..output import emit_json

COMMANDS = ("export",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="write the lock in another tool's format")
    p.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        metavar="F",
        help=f"one of {', '.join(FORMATS)}",
    )
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, help="write here, not to stdout")
    p.set_defaults(func=run)


def _relative(ctx: Context, path: Path) -> str:
    try:
        return path.relative_to(ctx.project_dir).as_posix()
    except ValueError:
        return path.name


def run(args: argparse.Namespace, ctx: Context) -> int:
    section = ctx.lock_section(ctx.lock(), args.target)
    folders: tuple[str, ...] = ()
    if args.format == "dockerfile":
        folders = ctx.manifest.recipes
        outside = [f for f in folders if f.startswith("/") or ".." in Path(f).parts]
        if outside:
            raise UsageError(
                f"recipe folder {outside[0]} lies outside the project folder, so a Docker build "
                "cannot copy it",
                hint="keep the manifest's recipe folders inside the project folder",
            )
    text = export(
        args.format,
        section,
        ExportContext(
            lock_file=_relative(ctx, ctx.lock_path),
            manifest_file=_relative(ctx, ctx.manifest_path),
            recipe_folders=folders,
            mlenv_spec=f"mlenv=={__version__}",
            base_dir=ctx.project_dir,
            generator=f"mlenv {__version__}",
        ),
    )
    if args.output is None:
        if ctx.options.json:
            emit_json(
                {
                    "version": 1,
                    "ok": True,
                    "format": args.format,
                    "target": section.name,
                    "content": text,
                }
            )
        else:
            sys.stdout.write(text)
        return 0
    out = args.output.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    ctx.reporter.info(f"wrote {out} ({args.format}, target {section.name})")
    if ctx.options.json:
        emit_json(
            {
                "version": 1,
                "ok": True,
                "format": args.format,
                "target": section.name,
                "path": str(out),
            }
        )
    return 0
