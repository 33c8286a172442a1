"""Solve the recipe graph for one target with resolvelib."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep
from resolvelib.resolvers import Resolution

from mlenv.errors import ResolutionError
from mlenv.index import RecipeIndex
from mlenv.requirement import Requirement

from .candidates import Candidate, Req
from .explain import explain
from .fastpath import greedy
from .provider import Pin, Provider


@dataclass(frozen=True, kw_only=True)
class Solution:
    packages: dict[str, Candidate]  # concrete recipe name -> candidate (python included)
    requires: dict[str, tuple[str, ...]]  # recipe name -> names it depends on
    visited: frozenset[str]
    backtracks: int
    fast_path: bool = False  # solved by the greedy pass, without backtracking


class _Counter(BaseReporter):
    def __init__(self) -> None:
        self.backtracks = 0

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        self.backtracks += 1


def solve(
    index: RecipeIndex,
    requirements: Sequence[Requirement],
    facts: Mapping[str, Any],
    *,
    target_name: str,
    prefer: Mapping[str, str] | None = None,
    pins: Mapping[str, Pin] | None = None,
    tools: Mapping[str, Sequence[str]] | None = None,
    max_rounds: int = 20_000,
    fast_path: bool = True,
) -> Solution:
    """The recipe graph for one target: a greedy pass first (linear, no conflicts), else
    resolvelib's backtracking solve, whose failures become explained diagnostics."""

    def provider() -> Provider:
        roots = [r.name for r in requirements]
        return Provider(index, facts, prefer=prefer, pins=pins, tools=tools, roots=roots)

    roots = [Req(req=r) for r in requirements]
    if fast_path:
        fast = provider()
        found = greedy(fast, roots)
        if found is not None:
            mapping, children = found
            return _solution(mapping, children, fast.visited, backtracks=0, fast_path=True)
    slow = provider()
    reporter = _Counter()
    try:
        state = Resolution(slow, reporter).resolve(roots, max_rounds=max_rounds)
    except ResolutionImpossible as e:
        raise explain(slow, e.causes, target_name) from e
    except ResolutionTooDeep as e:
        raise ResolutionError(
            f"gave up resolving for target {target_name} after {max_rounds} rounds",
            hint="pin the versions of the components that backtrack the most",
        ) from e
    mapping, children = reachable(state)
    return _solution(
        mapping, children, slow.visited, backtracks=reporter.backtracks, fast_path=False
    )


def reachable(state: Any) -> tuple[dict[str, Candidate], dict[str, set[str]]]:
    """The pins reachable from the manifest, and their edges, from resolvelib's final state.

    This is what resolvelib's own result builder means to do; its recursive walk never ends
    when backtracking leaves two pins that require each other and nothing else requires (found
    by the property tests), so the walk here is iterative and keeps a visited set.
    """
    mapping: dict[str, Candidate] = dict(state.mapping)
    key_of = {id(candidate): key for key, candidate in mapping.items()}
    children: dict[str | None, set[str]] = {}
    for key, criterion in state.criteria.items():
        for info in criterion.information:
            parent = None if info.parent is None else key_of.get(id(info.parent), "")
            if parent != "":
                children.setdefault(parent, set()).add(key)
    seen: set[str] = set()
    stack = list(children.get(None, ()))
    while stack:
        key = stack.pop()
        if key in seen or key not in mapping:
            continue
        seen.add(key)
        stack.extend(children.get(key, ()))
    return (
        {k: mapping[k] for k in mapping if k in seen},
        {k: {c for c in children.get(k, ()) if c in seen} for k in seen},
    )


def _solution(
    mapping: Mapping[str, Candidate],
    children: Mapping[str, set[str]],
    visited: set[str],
    *,
    backtracks: int,
    fast_path: bool,
) -> Solution:
    packages = {c.name: c for c in mapping.values() if c.provider is None}
    requires = {
        name: tuple(
            sorted(
                {mapping[child].recipe_name for child in children.get(name, ()) if child in mapping}
            )
        )
        for name in packages
    }
    return Solution(
        packages=packages,
        requires=requires,
        visited=frozenset(visited),
        backtracks=backtracks,
        fast_path=fast_path,
    )
