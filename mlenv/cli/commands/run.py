"""`mlenv run`: install if needed, run the harness per scenario and mode, summarize."""

from __future__ import annotations

import argparse
from typing import Any

from mlenv.errors import UsageError
from mlenv.manifest import MODES, SCENARIOS
from mlenv.ops.benchrun import COMPLIANCE_TESTS, run_benchmark
from mlenv.ops.install import ensure_env
from mlenv.ops.resolve import current_lock

from ..context import Context
from ..output import emit_json
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
        "--allow-drift",
        action="store_true",
        help="install even when a locked system tool's version differs (recorded in env.json)",
    )
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str | None, dict[str, Any]]:
    out: dict[str | None, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise UsageError(
                f"--set {item!r} is not KEY=VALUE", hint="e.g. --set Offline.target_qps=500"
            )
        scenario: str | None = None
        if "." in key:
            scenario, key = key.split(".", 1)
            if scenario not in SCENARIOS:
                raise UsageError(
                    f"--set {item!r}: unknown scenario {scenario!r}",
                    hint=f"one of {', '.join(SCENARIOS)}",
                )
            if not key:
                raise UsageError(
                    f"--set {item!r} names no setting after {scenario}.",
                    hint=f"e.g. --set {scenario}.min_duration=1000",
                )
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        out.setdefault(scenario, {})[key] = parsed
    return out


def run(args: argparse.Namespace, ctx: Context) -> int:
    bench = ctx.manifest.benchmark
    if bench is None:
        raise UsageError(
            f"{ctx.manifest_path.name} has no `benchmark:` section, so there is nothing to run",
            where=f"{ctx.manifest_path}: benchmark",
            hint="add benchmark: {model, dataset, backend} (see `mlenv init --example digits`)",
        )
    overrides = parse_overrides(args.overrides)  # a bad --set fails before any install
    lock = current_lock(ctx.project, frozen=args.frozen, locked=args.locked)
    section = ctx.lock_section(lock, args.target)
    env, _ = ensure_env(ctx.project, section, allow_drift=args.allow_drift, verify=args.verify)
    results = run_benchmark(
        ctx.project,
        section,
        env,
        bench,
        scenarios=args.scenario or list(bench.scenarios),
        modes=args.mode or list(bench.modes),
        overrides=overrides,
        results_root=ctx.project_dir / "results",
        compliance=args.compliance,
    )
    ctx.console.print(results_table(results))
    if ctx.options.json:
        emit_json(results)
    return 0
