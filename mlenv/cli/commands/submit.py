"""`mlenv submit` (the MLPerf inference submission tree from recorded runs) and
`mlenv submit check DIR` (mlenv's own checks of a tree), CONTRACTS §14.

The work is `mlenv.ops.submit`; this module parses and renders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape

from mlenv.errors import UsageError
from mlenv.ops import submit as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("submit",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(
        name,
        help="write an MLPerf inference submission tree from recorded runs (`submit check DIR`)",
    )
    p.add_argument("words", nargs="*", metavar="check DIR", help="check a tree instead")
    p.add_argument("--submitter", metavar="ORG", help="the submitting organization")
    p.add_argument("--division", default="open", choices=("open", "closed"))
    p.add_argument("--system-name", metavar="NAME", help="default: the runs' target name")
    p.add_argument("--system", type=Path, metavar="FILE", help="YAML/JSON system fields")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sweep", metavar="NAME", help="the latest runs of this sweep")
    which.add_argument("--run", action="append", default=[], metavar="RUN_ID")
    which.add_argument("--pareto", action="store_true", help="the Pareto front's runs")
    p.add_argument("--test", action="store_true", help="a test submission, not for MLPerf")
    p.add_argument("--results", metavar="URL", help="the results database")
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="the submission folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.words:
        if len(args.words) != 2 or args.words[0] != "check":
            raise UsageError(
                f"unexpected {' '.join(args.words)!r}",
                where="the command line",
                hint="`mlenv submit check DIR`, or `mlenv submit --submitter ORG -o DIR`",
            )
        return _check(Path(args.words[1]), ctx)
    if not args.submitter or args.output is None:
        raise UsageError(
            "mlenv submit needs --submitter ORG and -o DIR",
            where="the command line",
            hint="e.g. `mlenv submit --submitter MyOrg --test -o submission`",
        )
    request = op.SubmitRequest(
        submitter=args.submitter,
        out=args.output,
        division=args.division,
        system_name=args.system_name,
        system_file=args.system,
        sweep=args.sweep,
        runs=tuple(args.run),
        pareto=args.pareto,
        test=args.test,
        results=args.results,
    )
    done = op.submit(ctx.project, request)
    if not ctx.options.json:
        for s in done.built.systems:
            if done.built.test and s.missing:
                ctx.reporter.warn(f"systems/{s.name}.json: placeholders for {', '.join(s.missing)}")
        ctx.console.print(f"submission tree: {escape(str(done.built.root))}")
        ctx.console.print(f"tarball: {escape(str(done.built.tarball))}")
    return Outcome(data=done.to_dict())


def _check(path: Path, ctx: Context) -> Outcome:
    checked = op.check(path)
    if not checked.ok:
        return Outcome(data=checked.to_dict(), code=1, error=checked.error())
    ctx.reporter.info(f"{path}: no problems found by mlenv's checks")
    return Outcome(data=checked.to_dict())
