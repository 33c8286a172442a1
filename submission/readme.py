"""The READMEs of a tree: one per benchmark and scenario (what was measured and how to measure
it again with mlenv) and `src/README.md` (what each point folder holds). A test submission says
so at the top of every one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .select import Entry
    from .tree import Plan

TEST_NOTICE = (
    "> **Test submission, not for MLPerf.** Made with `mlenv submit --test` from runs that "
    "need not meet MLPerf's rules (short runs, subsets, placeholder system fields).\n\n"
)


def _notice(plan: Plan) -> str:
    return TEST_NOTICE if plan.test else ""


def _point_folder(point_id: str) -> str:
    return point_id.removeprefix("sha256:")[:16]


def scenario(plan: Plan, e: Entry) -> str:
    perf, acc = e.performance.document, e.accuracy.document
    config: Mapping[str, Any] = perf.get("benchmark_config") or {}
    backend: Mapping[str, Any] = perf.get("backend") or {}
    target = perf.get("target") or {}
    folder = _point_folder(e.performance.point_id)
    lines = [
        f"# {e.benchmark} · {e.scenario}\n\n",
        _notice(plan),
        f"Measured with mlenv under the `{perf.get('profile')}` profile on target "
        f"`{target.get('name') if isinstance(target, Mapping) else target}`, backend "
        f"{backend.get('name')} {backend.get('version')}.\n\n",
        f"- samples/s: {perf.get('samples_per_second')}\n",
        f"- latency (ns): {perf.get('latency_ns')}\n",
        f"- accuracy: {acc.get('accuracy')} on {acc.get('samples')} samples of "
        f"{acc.get('dataset')}\n",
        f"- harness configuration: {dict(config)}\n",
        f"- lock section: `{perf.get('lock')}`; runs `{e.performance.run_id}` (performance) "
        f"and `{e.accuracy.run_id}` (accuracy) of point `{e.performance.point_id}`\n\n",
        "## Reproduce\n\n",
        f"The manifest, lock and recipes are in `src/{folder}/` of this submission:\n\n",
        "```sh\n",
        f"cd src/{folder}\n",
        f"mlenv run --frozen --scenario {e.scenario} --mode performance --mode accuracy "
        f"--profile {perf.get('profile') or 'submission'}\n",
        "```\n",
    ]
    return "".join(lines)


def sources(plan: Plan, names: Mapping[str, str]) -> str:
    lines = [
        "# Sources\n\n",
        _notice(plan),
        "Each folder is one measured configuration (an mlenv point): its manifest "
        "`mlenv.yaml`, the `mlenv.lock` it was measured with (when it was found) and the "
        "recipes of the project's own recipe folders. The environment is rebuilt from the "
        "lock alone (`pip install mlenv`, then `mlenv run --frozen` in the folder).\n\n",
    ]
    for point, files in sorted(plan.sources.items()):
        if point not in names:
            continue
        listed = ", ".join(f"`{f}`" for f in sorted(files)) or "nothing recorded"
        lines.append(f"- `{_point_folder(point)}/` (system {names[point]}): {listed}\n")
    return "".join(lines)
