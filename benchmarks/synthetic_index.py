"""Generate a synthetic recipe index for resolver benchmarks.

N recipes in `depth` layers, each with V versions; every version of a recipe in layer k requires
`deps` recipes of layer k+1 with a version range, so a solve from layer 0 walks the whole depth.
A few ranges exclude the newest versions, which forces real backtracking.

    python benchmarks/synthetic_index.py OUT_DIR [--recipes 2000] [--versions 20] [--deps 5] [--depth 10]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path


def generate(
    out: Path, *, recipes: int, versions: int, deps: int, depth: int, seed: int = 7
) -> list[str]:
    """Writes `out/tools/*.yaml`; returns the names of the top layer (the roots to request)."""
    rng = random.Random(seed)
    per_layer = max(1, recipes // depth)
    layers = [[f"r{layer:02d}-{i:04d}" for i in range(per_layer)] for layer in range(depth)]
    folder = out / "tools"
    folder.mkdir(parents=True, exist_ok=True)
    for layer, names in enumerate(layers):
        below = layers[layer + 1] if layer + 1 < depth else []
        for name in names:
            lines = [f"name: {name}", "kind: tool", "versions:"]
            for v in range(versions, 0, -1):
                lines.append(f'  - version: "{v}.0"')
                if below:
                    lines.append("    requires:")
                    for dep in rng.sample(below, min(deps, len(below))):
                        high = versions + 1 if rng.random() > 0.1 else rng.randint(2, versions)
                        lines.append(f'      - "{dep} >=1,<{high}"')
            (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return layers[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipes", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--deps", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    a = parser.parse_args()
    roots = generate(a.out, recipes=a.recipes, versions=a.versions, deps=a.deps, depth=a.depth)
    print(f"wrote {a.recipes} recipes to {a.out}; roots: {', '.join(roots[:5])} …")


if __name__ == "__main__":
    main()
