"""Resolver benchmark: `mlenv resolve` end to end on a 2,000-recipe x 20-version synthetic index.

Writes a project whose manifest requests the index's top layer, runs `mlenv resolve` once to
fill the caches (index cache, lock), then measures, in one run:

- end to end: a fresh `mlenv resolve` process, warm caches, process start to lock written
  (wall and CPU seconds, best of --repeat runs: the CPU time is what a loaded machine leaves
  comparable);
- its parts, in a fresh process going through the same ops: import, index load, old-lock read,
  tool detection, solve, lock write.

Goal (issue 18): end to end under 1 s.

    python benchmarks/bench_resolve.py [--recipes 2000] [--versions 20] [--deps 5] [--depth 10]
                                       [--roots 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_index import generate

# the parts, timed in a fresh process (wall, CPU) through the same ops `mlenv resolve` runs
PARTS = r"""
import json, sys, time
marks = [(time.perf_counter(), time.process_time())]
def mark(): marks.append((time.perf_counter(), time.process_time()))
import mlenv.cli.main
from mlenv.lock import write_lock
from mlenv.ops import resolve as R
from mlenv.ops.project import Project
from mlenv.resolver.lockgen import build_lock
mark()
pause = R.paused_gc(); pause.__enter__()  # as `resolve` does
project = Project.open(sys.argv[1]); project.index; project.manifest
mark()
old = R.previous_lock(project)
mark()
options = R.resolve_options(project)
mark()
new = build_lock(project.index, project.manifest, project.targets(list(project.manifest.targets)),
                 options, previous=old, keep={})
mark()
write_lock(project.lock_path, new)
mark()
names = ["import", "index load", "old-lock read", "detection", "solve", "lock write"]
print(json.dumps({n: [b[0] - a[0], b[1] - a[1]] for n, a, b in zip(names, marks, marks[1:])}))
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _resolve(project: Path, env: dict[str, str]) -> tuple[float, float]:
    """One fresh `mlenv resolve` process: (wall, CPU) seconds."""
    cpu0, t0 = _cpu(), time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlenv.cli.main", "resolve"],
        cwd=project,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0, _cpu() - cpu0


def write_project(tmp: Path, a: argparse.Namespace) -> Path:
    project = tmp / "project"
    roots = generate(
        project / "recipes", recipes=a.recipes, versions=a.versions, deps=a.deps, depth=a.depth
    )
    wanted = "".join(f"  - {r}\n" for r in roots[: a.roots])
    (project / "mlenv.yaml").write_text(
        f"name: bench\nrecipes: [./recipes]\nrequires:\n{wanted}", encoding="utf-8"
    )
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--deps", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--roots", type=int, default=20, help="top-layer recipes to request")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs (best one counts)")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = write_project(Path(tmp), a)
        env = {**os.environ, "MLENV_HOME": str(Path(tmp, "home"))}
        cold = _resolve(project, env)  # fills the index cache and writes the lock
        warm = [_resolve(project, env) for _ in range(max(1, a.repeat))]
        out = subprocess.run(
            [sys.executable, "-c", PARTS, str(project)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        parts = json.loads(out.stdout.strip().splitlines()[-1])
        packages = (project / "mlenv.lock").read_text(encoding="utf-8").count(", kind: ")
    wall, cpu = min(w for w, _ in warm), min(c for _, c in warm)
    print(f"index: {a.recipes} recipes x {a.versions} versions, {a.deps} deps, depth {a.depth}")
    print(f"lock: {packages} packages")
    print(f"cold mlenv resolve {cold[0]:7.3f} s wall {cold[1]:7.3f} s CPU")
    print(f"warm mlenv resolve {wall:7.3f} s wall {cpu:7.3f} s CPU   (best of {len(warm)})")
    for name, (w, c) in parts.items():
        print(f"  {name:<16} {w:7.3f} s wall {c:7.3f} s CPU   ({c / max(cpu, 1e-9):4.0%} of CPU)")
    print(
        f"goal < 1 s end to end: {'met' if wall < 1 else 'NOT met'} "
        f"(wall {wall:.2f} s, CPU {cpu:.2f} s; ratio to goal {wall:.2f})"
    )


if __name__ == "__main__":
    main()
