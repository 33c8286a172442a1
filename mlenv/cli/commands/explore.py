"""`mlenv explore SWEEP`: measure a sweep file's points into the results database."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from mlenv.errors import MlenvError
from mlenv.explore import ExploreResult, explore

from ..context import Context
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
        "--retry-failed", action="store_true", help="measure again the points recorded as failed"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the points and their ids; measure nothing"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    result = explore(
        args.sweep,
        results=args.results,
        executor=args.executor,
        retry_failed=args.retry_failed,
        dry_run=args.dry_run,
        environ=ctx.environ,
        reporter=ctx.reporter,
        offline=ctx.options.offline,
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
