"""`mlenv env list | remove [TARGET] | gc [PROJECT_DIR…] [--only]`: environments and the store.

The work is `mlenv.ops.envs`; this module parses and renders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlenv.ops import envs as op

from ..context import Context
from ..output import Outcome, size_text

COMMANDS = ("env",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list, remove and garbage-collect environments")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the project's environments: lock digest, state, size")
    rm = actions.add_parser("remove", help="delete an environment of the project")
    rm.add_argument(
        "target", nargs="?", metavar="TARGET", help="default: the one `install` would use"
    )
    rm.add_argument("--all", action="store_true", help="every environment of the project")
    _add_gc_parser(actions)
    p.set_defaults(func=run)


def _add_gc_parser(actions: Any) -> None:
    gc = actions.add_parser(
        "gc",
        help="delete store objects that no environment or lock of the projects references",
        description="Delete what no lock and no environment of this project, the named "
        "projects and every other project that installed from this store (the store remembers "
        "them; those whose folder is gone are forgotten) references. With --only, just this "
        "project or the named ones count: objects other projects use may be deleted.",
    )
    gc.add_argument(
        "projects",
        nargs="*",
        metavar="PROJECT_DIR",
        type=Path,
        help="more projects whose locks and environments keep their objects (default: this "
        "one, plus every project the store remembers)",
    )
    gc.add_argument(
        "--only",
        action="store_true",
        help="keep only what the named projects (default: this one) reference, not what the "
        "other projects remembered in the store use",
    )
    gc.add_argument("--dry-run", action="store_true", help="print what would go; delete nothing")
    gc.add_argument(
        "--caches",
        action="store_true",
        help="also empty uv's and rattler's caches under MLENV_HOME/cache (installs refill them)",
    )


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.action == "list":
        return _list(ctx)
    if args.action == "remove":
        removed = op.remove(ctx.project, args.target, every=args.all)
        for r in removed:
            ctx.reporter.info(f"removed {r.path} (freed {size_text(r.freed)})")
        return Outcome(data={"removed": [r.to_dict() for r in removed]})
    result = op.gc(
        ctx.project, args.projects, only=args.only, dry_run=args.dry_run, caches=args.caches
    )
    _print_gc(ctx, result)
    return Outcome(data=result.to_dict())


def _list(ctx: Context) -> Outcome:
    listing = op.list_envs(ctx.project)
    if not listing.envs:
        ctx.reporter.info(f"no environments in {listing.project_dir} (run `mlenv install`)")
    elif not ctx.options.json:
        from rich.table import Table

        table = Table(title=f"environments of {listing.project_dir}", title_justify="left")
        for column in ("target", "built from lock", "state", "size", "not shared"):
            table.add_column(column, no_wrap=True)
        for e in listing.envs:
            colour = "green" if e.state == "current" else "yellow"
            table.add_row(
                e.target,
                (e.lock or "-").removeprefix("sha256:")[:16],
                f"[{colour}]{e.state}[/{colour}]",
                size_text(e.size),
                size_text(e.exclusive),
            )
        ctx.console.print(table)
    return Outcome(data=listing.to_dict())


KIND_NAMES = {
    "object": "store objects",
    "link": "wheel links of those objects",
    "tree": "extracted archives (trees and listings)",
    "md5": "md5 index entries",
    "partial": "partial downloads and temporary files",
    "build": "build folders of killed installs",
    "cache": "caches (uv, rattler)",
}


def _print_gc(ctx: Context, result: op.GcResult) -> None:
    if ctx.options.json:
        return
    verb = "would remove" if result.dry_run else "removed"
    if result.dry_run:
        for r in result.removed:
            ctx.console.print(f"  {r.kind:8} {r.path}  ({size_text(r.size)})", highlight=False)
    totals = result.totals()
    for kind, name in KIND_NAMES.items():
        if kind in totals:
            t = totals[kind]
            ctx.reporter.info(f"{verb} {t['count']} {name} ({size_text(t['size'])})")
    kept = result.kept
    ctx.reporter.info(
        f"kept {kept.get('objects', 0)} objects and {kept.get('trees', 0)} extracted archives "
        f"referenced by {len(result.projects)} project(s)"
    )
    freed = "would free" if result.dry_run else "freed"
    ctx.reporter.info(
        f"{freed} {size_text(result.freed)} of disk"
        + (" (files still linked from environments stay until those go)" if totals else "")
    )
