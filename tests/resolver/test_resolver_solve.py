"""The solve() API beyond the data cases: tools, the Solution record, diagnostics' details."""

from __future__ import annotations

import pytest

from mlenv.errors import ResolutionError
from mlenv.requirement import parse_requirement
from mlenv.resolver.provider import Provider
from mlenv.resolver.solve import solve

LINUX = {"os": "linux", "arch": "x86_64", "python": "3.11", "accelerator": "none"}

INDEX = {
    "compilers": [
        {
            "name": "gcc",
            "install": [
                {
                    "detect": {
                        "executables": ["gcc"],
                        "args": ["--version"],
                        "regex": "(\\d+\\.\\d+\\.\\d+)",
                    }
                }
            ],
        },
    ],
    "tools": [
        {"name": "a", "versions": ["1.0", "2.0"], "requires": ["b", "gcc >=12"]},
        {"name": "b", "versions": ["1.0"], "requires": ["python >=3.10"]},
        {"name": "unused", "versions": ["1.0"]},
    ],
}


def reqs(*texts: str):
    return [parse_requirement(t) for t in texts]


def test_detected_tools_are_candidates(make_index) -> None:
    index = make_index(INDEX)
    tools = {"gcc": ["11.4.0", "13.2.0", "12.3.0", "not-a-version"]}
    solution = solve(index, reqs("a"), LINUX, target_name="t", tools=tools)
    assert str(solution.packages["gcc"].version) == "13.2.0"
    solution = solve(index, reqs("a", "gcc <13"), LINUX, target_name="t", tools=tools)
    assert str(solution.packages["gcc"].version) == "12.3.0"
    with pytest.raises(ResolutionError) as info:
        solve(index, reqs("a"), LINUX, target_name="t", tools={"gcc": ["11.4.0"]})
    assert "gcc" in str(info.value)
    with pytest.raises(ResolutionError):
        solve(index, reqs("a"), LINUX, target_name="t")  # no gcc found on this target


def test_solution_record(make_index) -> None:
    index = make_index(INDEX)
    solution = solve(index, reqs("a"), LINUX, target_name="t", tools={"gcc": ["13.2.0"]})
    assert set(solution.packages) == {"a", "b", "gcc", "python"}
    assert solution.packages["python"].synthetic == "target"
    assert solution.packages["python"].located is None
    assert solution.packages["a"].located is index.get("a")
    assert solution.requires == {"a": ("b", "gcc"), "b": ("python",), "gcc": (), "python": ()}
    assert {"a", "b", "gcc", "python"} <= solution.visited
    assert "unused" not in solution.visited
    assert solution.backtracks >= 0


def test_conflict_details_are_data(make_index) -> None:
    index = make_index({"tools": [{"name": "a", "versions": ["1.0"]}]})
    with pytest.raises(ResolutionError) as info:
        solve(index, reqs("a >=2"), LINUX, target_name="linux-x86_64-cpu")
    err = info.value
    assert err.kind == "unsatisfiable"
    assert err.where == "target linux-x86_64-cpu"
    assert err.details["target"] == "linux-x86_64-cpu"
    assert err.details["facts"] == LINUX
    assert err.details["conflicts"] == [{"requirement": "a >=2", "chain": ["mlenv.yaml"]}]
    assert err.hint
    data = err.to_dict()
    assert data["kind"] == "unsatisfiable" and data["problems"][0]["where"] == "mlenv.yaml -> a >=2"


def test_too_many_rounds_is_our_error(make_index) -> None:
    index = make_index(
        {
            "tools": [
                {"name": f"p{i}", "versions": ["1.0", "2.0"], "requires": [f"p{i + 1}"]}
                for i in range(30)
            ]
            + [{"name": "p30", "versions": ["1.0"]}]
        }
    )
    with pytest.raises(ResolutionError) as info:
        solve(index, reqs("p0"), LINUX, target_name="t", max_rounds=3, fast_path=False)
    assert "3 rounds" in info.value.message
    assert isinstance(info.value.__cause__, Exception)


def test_provider_is_pure_and_cached(make_index) -> None:
    index = make_index(INDEX)
    provider = Provider(index, LINUX)
    first = provider.candidates("a")
    assert [str(c.version) for c in first] == ["2.0", "1.0"]
    assert provider.candidates("a") is first
    assert provider.candidates("nothing") == []
    assert [str(c.version) for c in provider.candidates("python")] == ["3.11"]
    assert Provider(index, {"os": "linux"}).candidates("python") == []


def test_the_greedy_pass_and_resolvelib_agree_on_a_chain(make_index) -> None:
    index = make_index(
        {
            "tools": [
                {"name": f"p{i}", "versions": ["1.0", "2.0"], "requires": [f"p{i + 1}"]}
                for i in range(30)
            ]
            + [{"name": "p30", "versions": ["1.0"]}]
        }
    )
    fast = solve(index, reqs("p0"), LINUX, target_name="t")
    slow = solve(index, reqs("p0"), LINUX, target_name="t", fast_path=False)
    assert fast.fast_path and not slow.fast_path
    assert {n: c.label() for n, c in fast.packages.items()} == {
        n: c.label() for n, c in slow.packages.items()
    }
    assert fast.requires == slow.requires
