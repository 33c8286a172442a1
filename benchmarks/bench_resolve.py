"""Resolver benchmark: a 2,000-recipe x 20-version synthetic index (5 deps each, depth 10).

Prints, in one run: cold index load (parse every YAML), warm index load (from the cache keyed by
file hashes), and the solve time, with recipes visited and backtracks. Goal: a warm resolve
(warm index load + solve) under 1 s on a 2-core machine.

    python benchmarks/bench_resolve.py [--recipes 2000] [--versions 20] [--deps 5] [--depth 10] [--roots 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_index import generate

from mlenv.index import RecipeRoot, load_index
from mlenv.requirement import parse_requirement
from mlenv.resolver.solve import solve

FACTS = {"os": "linux", "arch": "x86_64", "python": "3.11", "accelerator": "none"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--deps", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--roots", type=int, default=20, help="top-layer recipes to request")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "recipes")
        roots = generate(folder, recipes=a.recipes, versions=a.versions, deps=a.deps, depth=a.depth)
        cache = Path(tmp, "cache")
        root = [RecipeRoot(label="./recipes/", path=folder)]
        t0 = time.perf_counter()
        load_index(root, cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = load_index(root, cache_dir=cache)
        warm = time.perf_counter() - t0
        requirements = [parse_requirement(n) for n in roots[: a.roots]]
        t0 = time.perf_counter()
        solution = solve(index, requirements, FACTS, target_name="bench")
        solved = time.perf_counter() - t0
    print(f"index: {a.recipes} recipes x {a.versions} versions, {a.deps} deps, depth {a.depth}")
    print(f"cold index load   {cold:8.3f} s")
    print(f"warm index load   {warm:8.3f} s   ({cold / warm:.1f}x faster than cold)")
    print(
        f"solve             {solved:8.3f} s   {len(solution.packages)} packages, "
        f"{len(solution.visited)} recipes visited, {solution.backtracks} backtracks"
    )
    total = warm + solved
    print(
        f"warm resolve      {total:8.3f} s   goal < 1 s: {'met' if total < 1 else 'NOT met'} "
        f"(ratio to goal {total:.2f})"
    )


if __name__ == "__main__":
    main()
