"""`mlenv run`: install if needed, run the harness per scenario and mode, summarize."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.errors import UsageError
from mlenv.manifest import MODES, PROFILES, SCENARIOS
from mlenv.ops import run as op
from mlenv.ops.benchrun import COMPLIANCE_TESTS

from ..context import Context
from ..output import Outcome
from ..table import results_table
from .install import add_lock_flags

COMMANDS = ("run",)


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help="run the benchmark in the locked environment")
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=SCENARIOS,
        metavar="S",
        help=f"scenario to run (repeatable; {', '.join(SCENARIOS)})",
    )
    p.add_argument(
        "--mode",
        action="append",
        default=[],
        choices=MODES,
        metavar="M",
        help="performance or accuracy (repeatable)",
    )
    p.add_argument("--target", metavar="T", help="the lock target (default: this machine's)")
    add_lock_flags(p)
    _add_run_flags(p)
    _add_measure_flags(p)
    p.set_defaults(func=run)


def _add_measure_flags(p: Any) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        help="quick: short runs (the default, or the manifest's benchmark.profile); "
        "submission: LoadGen's mlperf.conf rules (10-minute runs, the whole dataset)",
    )
    p.add_argument(
        "--samples",
        type=_positive,
        metavar="N",
        help="run on the dataset's first N samples (not with --profile submission)",
    )
    p.add_argument(
        "--results",
        metavar="URL",
        help="the results database the runs are recorded in (default: MLENV_RESULTS, else "
        "sqlite:///<project>/.mlenv/results.db)",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="N",
        help="run each performance measurement N times; result.json holds the medians and "
        "every repeat",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _add_run_flags(p: Any) -> None:
    p.add_argument(
        "--verify",
        action="store_true",
        help="hash every artifact file before the run (default: only files whose size, mtime, "
        "inode or ctime moved since install)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[SCENARIO.]KEY=VALUE",
        dest="overrides",
        help="override a LoadGen user.conf setting",
    )
    p.add_argument(
        "--compliance",
        action="append",
        default=[],
        choices=COMPLIANCE_TESTS,
        metavar="TEST",
        help="also run a LoadGen compliance test per scenario (repeatable; "
        f"{', '.join(COMPLIANCE_TESTS)}); its results go to results/…/<scenario>/<TEST>/",
    )
    p.add_argument(
        "--allow-invalid",
        action="store_true",
        help="exit 0 even when LoadGen marks a performance run INVALID",
    )
    p.add_argument(
        "--allow-drift",
        action="store_true",
        help="install even when a locked system tool's version differs (recorded in env.json)",
    )


def parse_settings(items: list[str]) -> dict[str, Any]:
    """`--set [SCENARIO.]KEY=VALUE`… -> manifest-shaped settings (a scenario maps to its own)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise UsageError(
                f"--set {item!r} is not KEY=VALUE", hint="e.g. --set Offline.target_qps=500"
            )
        scenario, dot, name = key.partition(".")
        if not dot:
            out[key] = _number(value)
            continue
        if scenario not in SCENARIOS:
            raise UsageError(
                f"--set {item!r}: unknown scenario {scenario!r}",
                hint=f"one of {', '.join(SCENARIOS)}",
            )
        if not name:
            raise UsageError(
                f"--set {item!r} names no setting after {scenario}.",
                hint=f"e.g. --set {scenario}.min_duration=1000",
            )
        out.setdefault(scenario, {})[name] = _number(value)
    return out


def _number(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def run(args: argparse.Namespace, ctx: Context) -> Outcome:
    request = op.RunRequest(
        scenarios=tuple(args.scenario),
        modes=tuple(args.mode),
        settings=parse_settings(args.overrides),  # a bad --set fails before any install
        target=args.target,
        frozen=args.frozen,
        locked=args.locked,
        allow_drift=args.allow_drift,
        verify=args.verify,
        compliance=tuple(args.compliance),
        allow_invalid=args.allow_invalid,
        profile=args.profile,
        samples=args.samples,
        repeat=args.repeat,
        results_url=args.results,
    )
    try:
        results = op.run(ctx.project, request).results
    except op.InvalidRunError as e:  # the results are written: show them, then the error
        _print_table(ctx, e.results)
        return Outcome(data=e.results, code=1, error=e)
    _print_table(ctx, results)
    return Outcome(data=results)


def _print_table(ctx: Context, results: list[dict[str, Any]]) -> None:
    if ctx.options.verbosity >= 0 and results:
        ctx.console.print(results_table(results, width=ctx.console.width))
