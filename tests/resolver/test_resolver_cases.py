"""Tests as data: every `cases/*.yaml` is one resolution scenario (see cases/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlenv.errors import MlenvError, ResolutionError
from mlenv.requirement import parse_requirement
from mlenv.resolver.solve import solve

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = {
    "description",
    "index",
    "requested",
    "target",
    "prefer",
    "pins",
    "expected",
    "conflict",
    "graph",
}
CASES = sorted(CASES_DIR.glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a mapping"
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"{path.name}: unknown case keys {sorted(unknown)}"
    assert ("expected" in case) != ("conflict" in case), f"{path.name}: expected or conflict"
    for key in ("index", "requested", "target"):
        assert key in case, f"{path.name}: missing {key}"
    return case


def pins_of(case: dict[str, Any]) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]] | None:
    if "pins" not in case:
        return None
    out = {}
    for name, (version, variants) in case["pins"].items():
        out[name] = (str(version), tuple(sorted((str(k), str(v)) for k, v in variants.items())))
    return out


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("fast_path", [True, False], ids=["greedy-first", "resolvelib"])
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path, fast_path: bool, make_index, render_candidate, expected_text) -> None:
    """Every case twice: with the greedy first pass (falling back to resolvelib on any
    conflict) and with resolvelib alone; both must give the expected answer."""
    case = load_case(path)
    index = make_index(case["index"])
    requirements = [parse_requirement(r) for r in case["requested"]]
    facts = {k: str(v) for k, v in case["target"].items()}

    def run():
        return solve(
            index,
            requirements,
            facts,
            target_name="t",
            prefer=case.get("prefer"),
            pins=pins_of(case),
            fast_path=fast_path,
        )

    if "conflict" in case:
        with pytest.raises(ResolutionError) as info:
            run()
        err = info.value
        assert isinstance(err, MlenvError)
        rendered = str(err)
        assert "target t" in rendered
        for fragment in case["conflict"]:
            assert str(fragment) in rendered, f"{fragment!r} not in:\n{rendered}"
        return

    solution = run()
    got = {name: render_candidate(c) for name, c in solution.packages.items()}
    want = {name: expected_text(v) for name, v in case["expected"].items()}
    assert got == want
    for name, deps in (case.get("graph") or {}).items():
        assert list(solution.requires[name]) == sorted(deps), name
    # resolution is deterministic
    again = run()
    assert {n: render_candidate(c) for n, c in again.packages.items()} == got
    assert again.requires == solution.requires
