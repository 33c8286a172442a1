"""The recipes a solve can visit: everything reachable from the root requirements through every
version's and every conditional requirement, virtual names followed to all their providers.

A superset of what any solve of those roots looks at (conditions are not evaluated), computed
from the index alone (no I/O, no solve): `mlenv resolve` detects system tools only for these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

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


class LazyTools(Mapping[str, Sequence[str]]):
    """recipe name -> the versions its `detect:` program finds on this host, run on first use.

    The provider asks for a recipe's versions only when the solve reaches it, so only the
    recipes a solve actually looks at run their detection program, each once per resolve.
    `detect(name)` runs one recipe's detection; `declared` names the recipes that have one."""

    def __init__(self, detect: Callable[[str], Sequence[str]], declared: Iterable[str]) -> None:
        self._detect = detect
        self._declared = frozenset(declared)
        self._found: dict[str, Sequence[str]] = {}

    def __getitem__(self, name: str) -> Sequence[str]:
        if name not in self._declared:
            raise KeyError(name)
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = tuple(self._detect(name))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._declared))

    def __len__(self) -> int:
        return len(self._declared)

    def __contains__(self, name: object) -> bool:
        return name in self._declared

    @property
    def detected(self) -> dict[str, Sequence[str]]:
        """What has been detected so far (the recipes the solve asked about)."""
        return dict(self._found)
