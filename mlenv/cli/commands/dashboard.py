"""`mlenv dashboard build|serve`: the static results site (CONTRACTS §15).

The work is `mlenv.ops.dashboard`; this module parses and renders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape

from mlenv.ops import dashboard as op

from ..context import Context
from ..output import Outcome

COMMANDS = ("dashboard",)
_URL_HELP = "the results database (default: $MLENV_RESULTS, else .mlenv/results.db here)"
_DIR_HELP = "the site's folder (default: .mlenv/dashboard beside mlenv.yaml)"


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="a static site of every recorded run (build, serve)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="write the site (works from file:// too)")
    serve = actions.add_parser("serve", help="serve the site on 127.0.0.1 (builds it if needed)")
    for a in (build, serve):
        a.add_argument("-o", "--output", type=Path, metavar="DIR", help=_DIR_HELP)
        a.add_argument("--results", metavar="URL", help=_URL_HELP)
    serve.add_argument("--port", type=int, default=8000, metavar="P", help="0: a free port")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    if args.action == "build":
        built = op.build(ctx.project, out=args.output, url=args.results)
        if not ctx.options.json:
            ctx.console.print(f"dashboard: {escape(str(built.path / 'index.html'))}")
        return Outcome(data=built.to_dict())
    served = op.serve(ctx.project, out=args.output, url=args.results, port=args.port)
    return Outcome(data=served.to_dict())
