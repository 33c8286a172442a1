"""Solve the recipe graph for one target with resolvelib."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

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
    resolver: Resolver = Resolver(slow, reporter)
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except ResolutionImpossible as e:
        raise explain(slow, e.causes, target_name) from e
    except ResolutionTooDeep as e:
        raise ResolutionError(
            f"gave up resolving for target {target_name} after {max_rounds} rounds",
            hint="pin the versions of the components that backtrack the most",
        ) from e
    children = {
        name: {c for c in result.graph.iter_children(name) if c is not None}
        for name in result.mapping
    }
    return _solution(
        dict(result.mapping),
        children,
        slow.visited,
        backtracks=reporter.backtracks,
        fast_path=False,
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
