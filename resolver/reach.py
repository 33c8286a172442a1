"""The recipes a solve can visit: everything reachable from the root requirements through every
version's and every conditional requirement, virtual names followed to all their providers.

A superset of what any solve of those roots looks at (conditions are not evaluated), computed
from the index alone (no I/O, no solve): `mlenv resolve` detects system tools only for these.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlenv.index import RecipeIndex
from mlenv.requirement import Requirement


def reachable(index: RecipeIndex, roots: Iterable[Requirement]) -> set[str]:
    """Names of the index's concrete recipes that a solve from `roots` can visit."""
    seen: set[str] = set()  # identifiers: recipe names and virtual names
    found: set[str] = set()
    todo = [r.name for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        located = index.get(name)
        if located is not None:  # a concrete recipe shadows a virtual name, as in the solve
            found.add(name)
            recipe = located.recipe
            deps = [*recipe.requires, *(d for rv in recipe.versions for d in rv.requires)]
            todo.extend(d.requirement.name for d in deps)
        else:
            todo.extend(index.providers.get(name, ()))
    return found
