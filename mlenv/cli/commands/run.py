"""`mlenv run`: install if needed, run the harness per scenario and mode, summarize."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from mlenv.envs.activation import activation
from mlenv.envs.materialize import Environment
from mlenv.errors import LockError, RunError, UsageError
from mlenv.index import Located
from mlenv.lock import LockTarget
from mlenv.manifest import MODES, SCENARIOS, Benchmark

from ..context import Context
from ..envsupport import current_lock, ensure_env
from ..output import emit_json
from ..table import results_table

BOOTSTRAP = (
    "import sys,runpy; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('mlenv_harness', run_name='__main__', alter_sys=True)"
)


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
    p.add_argument("--frozen", action="store_true", help="use the lock as it is; never resolve")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[SCENARIO.]KEY=VALUE",
        dest="overrides",
        help="override a LoadGen user.conf setting",
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
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        out.setdefault(scenario, {})[key] = parsed
    return out


def harness_dir() -> Path:
    spec = importlib.util.find_spec("mlenv.harness")
    if spec is None or not spec.submodule_search_locations:
        raise RunError(
            "the mlenv harness is missing from this installation", hint="reinstall mlenv"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def harness_path(env: Environment) -> Path:
    """A folder holding only `mlenv_harness` -> the harness package: all the harness sees."""
    folder = env.path / ".harness"
    folder.mkdir(exist_ok=True)
    link = folder / "mlenv_harness"
    target = harness_dir()
    if not link.is_symlink() or Path(os.readlink(link)) != target:
        tmp = folder / f".link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)
    return folder


def locked_recipe(ctx: Context, section: LockTarget, name: str) -> Located:
    located = ctx.index.get(name)
    package = section.packages.get(name)
    if located is None or package is None:
        raise LockError(
            f"{name} is not in the lock's target {section.name}", hint="run `mlenv resolve`"
        )
    if package.recipe != f"sha256:{located.recipe.sha256}":
        raise LockError(
            f"the recipe of {name} changed since the lock was written ({located.label})",
            hint="run `mlenv resolve` (without --frozen) to update the lock",
        )
    return located


def artifact_file(env: Environment, package: str) -> Path:
    files = env.artifact(package)
    if not files:
        raise RunError(
            f"{package} has no artifact in the environment", hint="check its recipe's install:"
        )
    return files[0]


def run_config(
    ctx: Context,
    env: Environment,
    section: LockTarget,
    bench: Benchmark,
    scenario: str,
    mode: str,
    settings: dict[str, Any],
    out: Path,
) -> dict[str, Any]:
    model = locked_recipe(ctx, section, bench.model).recipe
    data = locked_recipe(ctx, section, bench.dataset).recipe
    preprocess = data.preprocess_map
    backend = section.packages[bench.backend]
    return {
        "version": 1,
        "benchmark": bench.model,
        "dataset": bench.dataset,
        "scenario": scenario,
        "mode": mode,
        "output_dir": str(out),
        "model": {
            "path": str(artifact_file(env, bench.model)),
            "format": model.format,
            "inputs": [t.to_dict() for t in model.inputs],
            "outputs": [t.to_dict() for t in model.outputs],
        },
        "data": {
            "path": str(artifact_file(env, bench.dataset)),
            "samples": data.samples,
            "performance_sample_count": data.performance_sample_count or data.samples,
            "preprocess": {
                "name": preprocess.get("name"),
                "params": {k: v for k, v in preprocess.items() if k != "name"},
            },
            "metric": data.metric,
        },
        "backend": {
            "name": bench.backend,
            "version": backend.version,
            "threads": bench.threads,
            "max_batch": bench.max_batch,
        },
        "settings": settings,
        "lock": section.digest(),
        "target": {"name": section.name, "facts": section.facts},
    }


def run_harness(env: Environment, config: dict[str, Any], ctx: Context) -> dict[str, Any]:
    folder = harness_path(env)
    out = Path(config["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlenv-run-") as tmp:
        config_file = Path(tmp, "run.json")
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        child_env = activation(
            env, {k: v for k, v in ctx.environ.items() if not k.startswith("PYTHON")}
        )
        cmd = [str(env.python), "-I", "-c", BOOTSTRAP, str(folder), "--config", str(config_file)]
        proc = subprocess.run(cmd, env=child_env, check=False, stdin=subprocess.DEVNULL)
    result_file = out / "result.json"
    if proc.returncode != 0 or not result_file.exists():
        raise RunError(
            f"the harness failed for {config['scenario']} {config['mode']} (exit {proc.returncode})",
            where=str(out),
            hint="see the harness message above; LoadGen's logs are in that folder",
        )
    return dict(json.loads(result_file.read_text(encoding="utf-8")))


def run(args: argparse.Namespace, ctx: Context) -> int:
    bench = ctx.manifest.benchmark
    if bench is None:
        raise UsageError(
            f"{ctx.manifest_path.name} has no `benchmark:` section, so there is nothing to run",
            where=f"{ctx.manifest_path}: benchmark",
            hint="add benchmark: {model, dataset, backend} (see `mlenv init --example digits`)",
        )
    lock = current_lock(ctx, frozen=args.frozen)
    section = ctx.lock_section(lock, args.target)
    env, _ = ensure_env(ctx, section, allow_drift=args.allow_drift)
    overrides = parse_overrides(args.overrides)
    scenarios = args.scenario or list(bench.scenarios)
    modes = args.mode or list(bench.modes)
    results = []
    for scenario in scenarios:
        settings = {
            **bench.settings_for(scenario),
            **overrides.get(None, {}),
            **overrides.get(scenario, {}),
        }
        for mode in modes:
            base = ctx.project_dir / "results" / section.name / bench.model / scenario
            out = base / "performance" / "run_1" if mode == "performance" else base / "accuracy"
            ctx.reporter.info(f"running {bench.model} {scenario} {mode}")
            config = run_config(ctx, env, section, bench, scenario, mode, settings, out)
            results.append(run_harness(env, config, ctx))
    ctx.console.print(results_table(results))
    if ctx.options.json:
        emit_json(results)
    return 0
