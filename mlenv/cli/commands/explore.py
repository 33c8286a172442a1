"""`mlenv explore SWEEP`: measure a sweep file's points into the results database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from mlenv.errors import MlenvError, UsageError
from mlenv.explore import ExploreResult, explore, pack_point

from ..context import Context
from ..liveview import live_view
from ..output import Outcome

COMMANDS = ("explore",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="measure every point of a sweep file into the results database")
    p.add_argument("sweep", nargs="?", default="sweep.yaml", metavar="SWEEP", help="the sweep file")
    p.add_argument(
        "--results",
        metavar="URL",
        help="the results database (default: MLENV_RESULTS, else "
        "sqlite:///<sweep dir>/.mlenv/results.db)",
    )
    p.add_argument("--executor", default="local", choices=("local", "ray"), help="where points run")
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: the cluster's HOST:PORT (default: RAY_ADDRESS)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="measure again the points recorded as failed"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the points and their ids; measure nothing"
    )
    p.add_argument(
        "--pack",
        metavar="POINT",
        help="write the offline bundle (as `mlenv pack`) of this measured point (an id or a "
        "unique prefix); measure nothing",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="with --pack: the archive to write (default <sweep dir>/<sweep>-<id>.mlenv.tar)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.pack is not None:
        return _pack(args, ctx)
    if args.output is not None:
        raise UsageError("-o/--output goes with --pack POINT", hint="add --pack POINT, or drop -o")
    live = not (args.dry_run or ctx.options.json or ctx.options.verbosity < 0)
    with live_view(ctx.console, enabled=live) as observer:
        result = explore(
            args.sweep,
            results=args.results,
            executor=args.executor,
            retry_failed=args.retry_failed,
            dry_run=args.dry_run,
            environ=ctx.environ,
            reporter=ctx.reporter,
            offline=ctx.options.offline,
            observer=observer,
            ray_address=args.ray_address,
        )
    if ctx.options.verbosity >= 0:
        ctx.console.print(points_table(result))
    if result.failed:
        n = len(result.points)
        error = MlenvError(
            f"{result.failed} of {n} points of sweep {result.sweep} failed (recorded)",
            where=result.results,
            hint=f"`mlenv results list --sweep {result.sweep} --where status=failed` shows why; "
            "`mlenv explore --retry-failed` measures them again",
        )
        return Outcome(data=result.to_dict(), code=1, error=error)
    return Outcome(data=result.to_dict())


def _pack(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = pack_point(
        args.sweep,
        args.pack,
        output=args.output,
        environ=ctx.environ,
        reporter=ctx.reporter,
        offline=ctx.options.offline,
    )
    ctx.console.print(
        f"[bold]{escape(str(result.path))}[/bold]: {result.files} files, "
        f"{result.size / 1e6:.1f} MB, {result.results} result(s) of {result.target}"
    )
    if not ctx.options.json:
        sys.stdout.write(f"{result.path}\n")
    data = {
        "bundle": str(result.path),
        "sha256": result.sha256,
        "size": result.size,
        "target": result.target,
        "files": result.files,
        "results": result.results,
    }
    return Outcome(data=data)


def points_table(result: ExploreResult) -> Table:
    title = f"sweep {result.sweep}: {len(result.points)} points"
    if not result.dry_run:
        counts = ", ".join(f"{result.count(s)} {s}" for s in ("ok", "failed", "skipped"))
        title += f" ({counts}) → {result.results}"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("point")
    table.add_column("parameters")
    if not result.dry_run:
        table.add_column("status")
        table.add_column("runs", justify="right")
    for point in result.points:
        params = ", ".join(f"{k}={v}" for k, v in point.parameters.items()) or "(base)"
        row = [point.id[:12], escape(params)]
        if not result.dry_run:
            status = point.status + (f" ({point.stage})" if point.stage else "")
            row += [status, str(point.runs)]
        table.add_row(*row)
    return table
