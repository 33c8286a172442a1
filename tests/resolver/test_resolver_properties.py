"""Property tests of the solve over generated indexes (hypothesis): resolving is deterministic,
every answer satisfies every requirement in its own graph, and the greedy first pass never
changes whether a solution exists (it only falls back to resolvelib, never gives up alone)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from indexdata import write_index

from mlenv.errors import ResolutionError
from mlenv.requirement import parse_requirement
from mlenv.resolver.provider import Provider
from mlenv.resolver.solve import Solution, solve

FACTS = {"os": "linux", "arch": "x86_64", "python": "3.11", "accelerator": "none"}
NAMES = [f"r{i}" for i in range(6)]
SPECS = ["", ">=2.0", "<3.0", "==1.0", "!=2.0", ">=1.0,<4.0"]


@st.composite
def problems(draw: Any) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    count = draw(st.integers(2, len(NAMES)))
    names = NAMES[:count]
    recipes = []
    for name in names:
        versions = []
        for v in draw(st.sets(st.integers(1, 4), min_size=1, max_size=4)):
            deps = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
            versions.append(
                {
                    "version": f"{v}.0",
                    "requires": [
                        f"{d} {draw(st.sampled_from(SPECS))}".strip() for d in deps if d != name
                    ],
                }
            )
        recipes.append({"name": name, "versions": versions})
    roots = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    requested = [f"{r} {draw(st.sampled_from(SPECS))}".strip() for r in roots]
    return {"tools": recipes}, requested


def outcome(index: Any, requested: list[str], fast_path: bool) -> Solution | None:
    try:
        return solve(
            index,
            [parse_requirement(r) for r in requested],
            FACTS,
            target_name="t",
            fast_path=fast_path,
        )
    except ResolutionError:
        return None


def labels(solution: Solution) -> dict[str, str]:
    return {n: c.label() for n, c in solution.packages.items()}


def assert_consistent(index: Any, requested: list[str], solution: Solution) -> None:
    """Every root and every dependency of every chosen candidate holds for the chosen versions."""
    provider = Provider(index, FACTS)
    chosen = solution.packages
    for text in requested:
        req = parse_requirement(text)
        assert req.name in chosen and req.allows(chosen[req.name].version), text
    for name, candidate in chosen.items():
        for dep in provider.dependencies(candidate):
            target = chosen.get(dep.requirement.name)
            assert target is not None, (name, dep.text)
            assert dep.requirement.allows(target.version), (
                candidate.label(),
                dep.text,
                target.label(),
            )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_solving_is_deterministic_consistent_and_strategy_independent(problem: Any) -> None:
    index_data, requested = problem
    with tempfile.TemporaryDirectory() as tmp:
        index = write_index(Path(tmp, "recipes"), index_data)
        fast = outcome(index, requested, fast_path=True)
        slow = outcome(index, requested, fast_path=False)
        event("solved" if fast is not None else "no solution")
        if fast is not None:
            event("greedy pass" if fast.fast_path else "resolvelib after the greedy pass")
        # a solution exists for one strategy exactly when it exists for the other
        assert (fast is None) == (slow is None)
        for solution in (s for s in (fast, slow) if s is not None):
            assert_consistent(index, requested, solution)
        again = outcome(index, requested, fast_path=True)
        assert (again is None) == (fast is None)
        if fast is not None and again is not None:
            assert labels(again) == labels(fast) and again.requires == fast.requires
