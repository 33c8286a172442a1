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
from .provider import Pin, Provider


@dataclass(frozen=True, kw_only=True)
class Solution:
    packages: dict[str, Candidate]  # concrete recipe name -> candidate (python included)
    requires: dict[str, tuple[str, ...]]  # recipe name -> names it depends on
    visited: frozenset[str]
    backtracks: int


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
) -> Solution:
    provider = Provider(
        index, facts, prefer=prefer, pins=pins, tools=tools, roots=[r.name for r in requirements]
    )
    reporter = _Counter()
    resolver: Resolver = Resolver(provider, reporter)
    try:
        result = resolver.resolve([Req(req=r) for r in requirements], max_rounds=max_rounds)
    except ResolutionImpossible as e:
        raise explain(provider, e.causes, target_name) from e
    except ResolutionTooDeep as e:
        raise ResolutionError(
            f"gave up resolving for target {target_name} after {max_rounds} rounds",
            hint="pin the versions of the components that backtrack the most",
        ) from e
    packages: dict[str, Candidate] = {}
    for candidate in result.mapping.values():
        if candidate.provider is None:
            packages[candidate.name] = candidate
    requires: dict[str, tuple[str, ...]] = {}
    for name in packages:
        deps = {
            result.mapping[child].recipe_name
            for child in result.graph.iter_children(name)
            if child in result.mapping
        }
        requires[name] = tuple(sorted(deps))
    return Solution(
        packages=packages,
        requires=requires,
        visited=frozenset(provider.visited),
        backtracks=reporter.backtracks,
    )
