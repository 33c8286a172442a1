"""Sweep benchmark: what `mlenv explore` costs per point beyond the measurement itself.

On the offline runnable project of the tests (`null` backend, LoadGen of this Python, its one
wheel served from 127.0.0.1 by `tests/support/localpypi.py`; nothing is downloaded), a sweep of
N points that share one lock section is run twice through `mlenv.explore.explore`, as the CLI
runs it: once to fill the store, then, timed, as a new sweep (its own points, locks and
environment folder, a fresh results database) with the store warm. Each point then resolves
its own lock, installs (the first point builds the sweep's environment from the warm store;
the others find it), is measured, and is recorded in SQLite.

The phases are timed by wrapping the very functions the executor calls (`mlenv.ops.explore`
`prepare` (resolve), `install`, `measure`, and `ResultsDB.record_point`/`record_run`); the
overhead per point is the sweep's wall time minus the measurement time, over N. Goal: under
1 s per point. Timings are printed, never asserted.

    python benchmarks/bench_sweep.py [--points 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the offline project builders

from runproject import SWEEP_BASE, nullrun_project  # noqa: E402

from mlenv.explore import explore  # noqa: E402
from mlenv.ops import explore as op  # noqa: E402
from mlenv.resultsdb import ResultsDB  # noqa: E402

MANIFEST = SWEEP_BASE
WIDTH = 40

spent: dict[str, float] = defaultdict(float)


def timing(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start

    return wrapper


def instrument() -> None:
    op.prepare = timing("resolve", op.prepare)  # type: ignore[method-assign]
    op.install = timing("install", op.install)  # type: ignore[method-assign]
    op.measure = timing("measure", op.measure)  # type: ignore[method-assign]
    ResultsDB.record_point = timing("record", ResultsDB.record_point)  # type: ignore[method-assign]
    ResultsDB.record_run = timing("record", ResultsDB.record_run)  # type: ignore[method-assign]


def sweep_text(name: str, points: int) -> str:
    counts = ", ".join(str(16 + i) for i in range(points))
    return (
        f"name: {name}\naxes:\n  settings.min_query_count: [{counts}]\n"
        "scenarios: [Offline]\nmodes: [performance]\n"
    )


def run_sweep(project: Any, name: str, points: int) -> tuple[float, Any]:
    path = project.write(f"{name}.yaml", sweep_text(name, points))
    url = f"sqlite:///{project.root / (name + '.db')}"
    start = time.perf_counter()
    result = explore(path, results=url, environ=project.environ())
    wall = time.perf_counter() - start
    if result.count("ok") != points:
        sys.exit(f"the {name} sweep measured {result.count('ok')} of {points} points")
    return wall, result


def row(label: str, value: str) -> None:
    print(f"  {label:<{WIDTH}} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="build the project here (kept)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="mlenv-bench-sweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = args.points
    with nullrun_project(folder) as project:
        project.write("mlenv.yaml", MANIFEST)
        cold, _ = run_sweep(project, "cold", n)
        instrument()
        wall, _ = run_sweep(project, "warm", n)
    overhead = wall - spent["measure"]
    print(f"mlenv explore, {n} points sharing one lock section (null backend, offline)")
    row("first sweep (store filled), total", f"{cold:.2f} s")
    row("timed sweep (store warm), total", f"{wall:.2f} s")
    for phase in ("resolve", "install", "record", "measure"):
        row(f"  {phase}, per point", f"{spent[phase] / n:.3f} s")
    row(
        "  other (plan, point files, progress)",
        f"{(overhead - sum(spent[p] for p in ('resolve', 'install', 'record'))) / n:.3f} s",
    )
    row("overhead per point (beyond measurement)", f"{overhead / n:.3f} s  (goal < 1 s)")
    row("overhead / measurement", f"{overhead / spent['measure']:.2f}")
    print(f"  {'OK' if overhead / n < 1.0 else 'OVER GOAL'}")


if __name__ == "__main__":
    main()
