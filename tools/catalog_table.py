"""Print the README's catalog table (Markdown) from the built-in recipes.

    python tools/catalog_table.py > /tmp/catalog.md

One row per recipe: component, kind, versions, variants, and the built-in targets its `supports`
allows (a `detect:` recipe's versions are whatever the machine has; a model declared without an
artifact says so). Nothing is hand-written: rerun it after changing a recipe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mlenv.index import RecipeIndex, RecipeRoot, load_index
from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir
from mlenv.recipe import KINDS, Recipe
from mlenv.sources import (
    ArtifactSource,
    CondaSource,
    DetectSource,
    LocalSource,
    PypiSource,
    WheelFileSource,
)

SOURCE_NAMES = (
    (PypiSource, "PyPI"),
    (CondaSource, "conda"),
    (ArtifactSource, "download"),
    (WheelFileSource, "file in a wheel"),
    (LocalSource, "you supply"),
    (DetectSource, "detected"),
)


def sources(recipe: Recipe) -> str:
    kinds = {type(e.source) for e in recipe.install}
    names = [name for cls, name in SOURCE_NAMES if cls in kinds]
    if any(isinstance(e.source, ArtifactSource) and not e.source.sha256 for e in recipe.install):
        names = [n if n != "download" else "download (md5)" for n in names]
    return ", ".join(names) or "declaration only"


def versions(recipe: Recipe) -> str:
    listed = [v.text for v in recipe.versions]
    if any(isinstance(e.source, DetectSource) for e in recipe.install):
        listed.append("what the host has")
    return ", ".join(listed)


def variants(recipe: Recipe) -> str:
    return "; ".join(
        f"{v.name}: {' / '.join(f'**{x}**' if x == v.default else x for x in v.values)}"
        for v in recipe.variants
    )


def targets(recipe: Recipe, index: RecipeIndex) -> str:
    names = [
        name
        for name, (target, _label) in sorted(index.targets.items())
        if not recipe.supports
        or recipe.supports.holds(variants={}, version=None, facts=target.facts())
    ]
    return "all" if len(names) == len(index.targets) else ", ".join(names) or "none"


def table(index: RecipeIndex) -> str:
    rows = [
        "| component | kind | versions | variants | targets | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    kinds = list(dict.fromkeys(("framework", "model", "dataset", "tool", *KINDS)))
    order = {kind: i for i, kind in enumerate(kinds)}
    recipes = sorted(
        (index.recipes[n].recipe for n in index.names()),
        key=lambda r: (order[r.kind], r.name),
    )
    for r in recipes:
        cells = [f"`{r.name}`", r.kind, versions(r), variants(r), targets(r, index), sources(r)]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    index = load_index([RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir())])
    sys.stdout.write(table(index))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
