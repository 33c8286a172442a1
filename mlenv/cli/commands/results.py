"""`mlenv results list|show|pareto|export|import|plot`: the results database (CONTRACTS §13).

The work is `mlenv.ops.results`; this module parses and renders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from mlenv.ops import results as op
from mlenv.ops.resultsimport import import_paths

from ..context import Context
from ..output import Outcome
from ..table import target_note

COMMANDS = ("results",)
_URL_HELP = "the results database (default: $MLENV_RESULTS, else .mlenv/results.db here)"


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="list, compare, export and import recorded runs")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = _action(actions, "list", "one row per recorded run (and failed point)")
    lst.add_argument("--where", action="append", default=[], metavar="KEY=VALUE")
    show = _action(actions, "show", "one run, or one point with its manifest and runs")
    show.add_argument("ident", metavar="RUN_ID|POINT_ID")
    par = _action(actions, "pareto", "the non-dominated runs of each benchmark and scenario")
    par.add_argument("--scenario", metavar="S")
    par.add_argument("--benchmark", metavar="B")
    par.add_argument("--objective", action="append", default=[], metavar="KEY=max|min")
    par.add_argument("--where", action="append", default=[], metavar="KEY=VALUE")
    exp = _action(
        actions, "export", "the runs as csv, json, MLPerf's summary.csv columns, or a FAIR folder"
    )
    exp.add_argument("--format", required=True, choices=op.FORMATS, metavar="F")
    exp.add_argument("--where", action="append", default=[], metavar="KEY=VALUE")
    exp.add_argument(
        "-o", "--output", type=Path, metavar="PATH", help="default: stdout (fair: a folder)"
    )
    imp = _action(
        actions, "import", "record results/ folders, result.json files, bundles, MLPerf tables"
    )
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imp.add_argument(
        "--round", metavar="vX.Y", help="the MLPerf round of a summary table that does not say"
    )
    plot = _action(actions, "plot", "the Pareto front as a self-contained SVG scatter")
    plot.add_argument("--scenario", metavar="S")
    plot.add_argument("--objective", action="append", default=[], metavar="KEY=max|min")
    plot.add_argument("-o", "--output", type=Path, metavar="FILE.svg", help="default: stdout")
    p.set_defaults(func=run)


def _action(actions: Any, name: str, text: str) -> Any:
    a = actions.add_parser(name, help=text)
    a.add_argument("--results", metavar="URL", help=_URL_HELP)
    if name not in ("show", "import"):
        a.add_argument("--sweep", metavar="NAME", help="only this sweep's points")
    return a


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    handlers = {
        "list": _list,
        "show": _show,
        "pareto": _pareto,
        "export": _export,
        "import": _import,
        "plot": _plot,
    }
    return handlers[args.action](args, ctx)


def _list(args: argparse.Namespace, ctx: Context) -> Outcome:
    where = op.pairs(args.where, "--where")
    found = op.list_runs(ctx.project, url=args.results, sweep=args.sweep, where=where)
    if not ctx.options.json:
        _print_runs(ctx, f"{len(found.rows)} run(s)", found.rows)
    return Outcome(data=found.to_dict())


def _ms(value: Any) -> str:
    return f"{value / 1e6:.3f}" if isinstance(value, int | float) else "-"


def _num(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _accuracy(acc: dict[str, Any], target: Any) -> str:
    """`top1 0.995 (ref 0.9000, 99% = 0.8910: met)`: each metric, with the model's target."""
    return escape(
        " ".join(
            f"{k} {v:.4g}{target_note(target, k)}"
            for k, v in acc.items()
            if isinstance(v, int | float)
        )
    )


def _print_runs(ctx: Context, title: str, rows: Any) -> None:
    table = Table(title=title, title_justify="left")
    columns = ["run", "scenario", "mode", "valid", "samples/s", "p90 ms", "accuracy"]
    for col in columns:
        table.add_column(
            col, no_wrap=True, justify="right" if "/" in col or "ms" in col else "left"
        )
    table.add_column("parameters", overflow="fold", min_width=12)
    table.add_column("status", overflow="fold", min_width=6)
    for r in rows:
        sps = r.document.get("samples_per_second")
        acc = r.document.get("accuracy") or {}
        table.add_row(
            r.run_id,
            r.scenario or "-",
            r.mode or "-",
            {True: "VALID", False: "INVALID"}.get(r.document.get("valid"), "-"),
            _num(sps),
            _ms((r.document.get("latency_ns") or {}).get("p90")),
            _accuracy(acc, r.document.get("accuracy_target")),
            escape(" ".join(f"{k}={v}" for k, v in r.parameters.items())),
            r.status
            if r.status == "ok"
            else f"{r.status}: {escape(str((r.error or {}).get('message')))}",
        )
    ctx.console.print(table)


def _print_front(ctx: Context, group: Any) -> None:
    title = f"{group.benchmark} · {group.scenario}: {len(group.front)} on the front of {len(group.candidates)}"
    table = Table(title=title, title_justify="left")
    for col in ("run", "point", "valid"):
        table.add_column(col, no_wrap=True)
    for key, direction in group.objectives.items():
        label = key.replace("latency_ns.", "") + (" ms" if key.startswith("latency_ns") else "")
        table.add_column(f"{label} ({direction})", justify="right")
    table.add_column("parameters", overflow="fold", min_width=12)
    for r in group.front:
        values = [
            _ms(v) if k.startswith("latency_ns") else _num(v) for k, v in group.values_of(r).items()
        ]
        valid = {True: "VALID", False: "INVALID"}.get(r.document.get("valid"), "-")
        params = escape(" ".join(f"{k}={v}" for k, v in r.parameters.items()))
        table.add_row(r.run_id, r.point_id.removeprefix("sha256:")[:10], valid, *values, params)
    ctx.console.print(table)


def _show(args: argparse.Namespace, ctx: Context) -> Outcome:
    shown = op.show(ctx.project, args.ident, url=args.results)
    if not ctx.options.json:
        if shown.run is not None:
            run = shown.run
            ctx.console.print(f"[bold]run {run.run_id}[/bold] of point {run.point_id}")
            ctx.console.print(op.json_text(shown.to_dict()["run"]), markup=False)
        elif shown.point is not None:
            point = shown.point
            ctx.console.print(f"[bold]point {point.point_id}[/bold] (lock {point.lock})")
            ctx.console.print(f"sweeps: {', '.join(point.sweeps) or '-'}  status: {point.status}")
            ctx.console.print(f"parameters: {op.json_text(dict(point.parameters))}", markup=False)
            ctx.console.print("\n[bold]derived manifest[/bold]")
            ctx.console.print(point.manifest or "(not recorded)", markup=False)
            _print_runs(ctx, f"{len(point.runs)} run(s)", point.runs)
    return Outcome(data=shown.to_dict())


def _pareto(args: argparse.Namespace, ctx: Context) -> Outcome:
    front = op.pareto(
        ctx.project,
        url=args.results,
        sweep=args.sweep,
        scenario=args.scenario,
        benchmark=args.benchmark,
        objectives=op.objectives_of(args.objective),
        where=op.pairs(args.where, "--where"),
    )
    if not ctx.options.json:
        for g in front.groups:
            _print_front(ctx, g)
        if not front.groups:
            ctx.reporter.info("no successful performance runs to compare")
    return Outcome(data=front.to_dict())


def _written(ctx: Context, written: op.Written) -> Outcome:
    if written.path is None and not ctx.options.json:
        sys.stdout.write(written.text)
    return Outcome(data=written.to_dict())


def _export(args: argparse.Namespace, ctx: Context) -> Outcome:
    where = op.pairs(args.where, "--where")
    written = op.export(
        ctx.project,
        args.format,
        url=args.results,
        output=args.output,
        sweep=args.sweep,
        where=where,
    )
    return _written(ctx, written)


def _plot(args: argparse.Namespace, ctx: Context) -> Outcome:
    written = op.plot(
        ctx.project,
        url=args.results,
        output=args.output,
        sweep=args.sweep,
        scenario=args.scenario,
        objectives=op.objectives_of(args.objective),
    )
    return _written(ctx, written)


def _import(args: argparse.Namespace, ctx: Context) -> Outcome:
    done = import_paths(ctx.project, args.paths, url=args.results, round_=args.round)
    for item in done.left_out:
        ctx.reporter.warn(f"left out {item}")
    ctx.reporter.info(
        f"{len(done.runs)} run(s) from {len(done.sources)} source(s): {done.new} new, "
        f"{len(done.runs) - done.new} already recorded"
    )
    return Outcome(data=done.to_dict())
