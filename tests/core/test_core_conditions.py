"""`when:` conditions and `supports:` (CONTRACTS §2): every key must hold."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.conditions import Condition, parse_condition
from mlenv.yamlio import Problems

LINUX = {
    "os": "linux",
    "arch": "x86_64",
    "microarch": "x86_64_v3",
    "python": "3.11",
    "accelerator": "none",
}
CUDA = {**LINUX, "accelerator": "cuda", "cuda": "12.4"}
DEVICE_VALUES = ("cpu", "cuda", "rocm")


def cond(
    data: Any, variants: tuple[str, ...] = ("device",), allow_version: bool = True
) -> Condition:
    problems = Problems("c.yaml")
    c = parse_condition(
        data,
        "when",
        problems,
        variant_names={v: DEVICE_VALUES for v in variants},
        allow_version=allow_version,
    )
    assert not problems, problems.problems()
    return c


def holds(c: Condition, facts: dict[str, Any], variants=None, version: str | None = "1.0") -> bool:
    return c.holds(
        variants=variants or {}, version=Version(version) if version else None, facts=facts
    )


def test_empty_condition_always_holds() -> None:
    c = cond({})
    assert not c
    assert holds(c, {})


def test_parsed_items_are_sorted_and_typed() -> None:
    c = cond({"os": "linux", "device": ["cpu", "cuda"], "cuda": ">=12", "version": "<2"})
    assert [k for k, _ in c.items] == ["cuda", "device", "os", "version"]
    assert dict(c.items)["cuda"] == SpecifierSet(">=12")
    assert dict(c.items)["device"] == ("cpu", "cuda")
    assert c.keys() == {"cuda", "device", "os", "version"}
    assert c.to_data() == {
        "cuda": ">=12",
        "device": ["cpu", "cuda"],
        "os": "linux",
        "version": "<2",
    }


@pytest.mark.parametrize(
    ("data", "facts", "expected"),
    [
        ({"os": "linux"}, LINUX, True),
        ({"os": ["darwin", "windows"]}, LINUX, False),
        ({"arch": ["x86_64", "aarch64"]}, LINUX, True),
        ({"arch": "aarch64"}, LINUX, False),
        ({"accelerator": "none"}, LINUX, True),
        ({"accelerator": "none"}, {"os": "linux"}, True),  # no accelerator fact means none
        ({"accelerator": "cuda"}, LINUX, False),
        ({"accelerator": "cuda"}, CUDA, True),
        ({"cuda": ">=12"}, CUDA, True),
        ({"cuda": ">=12.6"}, CUDA, False),
        ({"cuda": "<12"}, CUDA, False),
        ({"cuda": ">=12"}, LINUX, False),  # no CUDA at all
        ({"python": ">=3.10"}, LINUX, True),
        ({"python": ">=3.12"}, LINUX, False),
        ({"python": "<3.12"}, LINUX, True),
        ({"microarch": "x86_64_v3"}, LINUX, True),
        ({"microarch": "x86_64_v3"}, {**LINUX, "microarch": "x86_64_v4"}, True),
        ({"microarch": "x86_64_v3"}, {**LINUX, "microarch": "zen3"}, True),
        ({"microarch": "x86_64_v3"}, {**LINUX, "microarch": "x86_64_v2"}, False),
        ({"microarch": "x86_64_v3"}, {**LINUX, "microarch": "unknown-cpu"}, False),
        ({"microarch": "x86_64_v3"}, {"os": "linux"}, False),
        ({"microarch": ["aarch64", "x86_64_v2"]}, LINUX, True),
        ({"os": "linux", "cuda": ">=12"}, LINUX, False),  # every key must hold
        ({"os": "linux", "cuda": ">=12"}, CUDA, True),
    ],
)
def test_target_keys(data: dict[str, Any], facts: dict[str, Any], expected: bool) -> None:
    assert holds(cond(data), facts) is expected


def test_variant_and_version_keys() -> None:
    c = cond({"device": "cuda", "version": ">=1.18,<2"})
    assert holds(c, LINUX, {"device": "cuda"}, "1.20.1")
    assert not holds(c, LINUX, {"device": "cpu"}, "1.20.1")
    assert not holds(c, LINUX, {"device": "cuda"}, "2.0")
    assert not holds(c, LINUX, {"device": "cuda"}, None)
    assert holds(cond({"version": ">=2.0rc1"}), {}, None, "2.0rc2")  # pre-releases count
    many = cond({"device": ["cuda", "rocm"]}, variants=("device",))
    assert holds(many, LINUX, {"device": "rocm"})
    assert not holds(many, LINUX, {"device": "cpu"})


def test_failing_describes_what_does_not_hold() -> None:
    c = cond({"os": ["darwin"], "cuda": ">=12", "arch": "x86_64"})
    failing = c.failing(variants={}, version=None, facts=LINUX)
    assert failing == ["cuda >=12 (target has none)", "os darwin (target has linux)"]
    assert c.failing(variants={}, version=None, facts={**CUDA, "os": "darwin"}) == []


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"flavour": "x"}, "when.flavour", "unknown condition key 'flavour'"),
        ({"cuda": "twelve"}, "when.cuda", "invalid version specifier"),
        ({"python": 3.11}, "when.python", "invalid version specifier"),
        ({"version": "~1"}, "when.version", "invalid version specifier"),
        ({"os": None}, "when.os", "expected a value"),
        ({"os": []}, "when.os", "expected a value"),
        ({"os": [True]}, "when.os", "expected a value"),
        ({"device": {"a": 1}}, "when.device", "expected a value"),
        (["os", "linux"], "when", "must be a mapping"),
    ],
)
def test_invalid_conditions(data: Any, path: str, message: str) -> None:
    problems = Problems("c.yaml")
    parse_condition(data, "when", problems, variant_names={"device": DEVICE_VALUES})
    [(got_path, got_message)] = problems.items
    assert got_path == path
    assert message in got_message


def test_supports_rejects_version_and_variants() -> None:
    problems = Problems("c.yaml")
    parse_condition(
        {"version": ">=1", "device": "cpu"},
        "supports",
        problems,
        variant_names={},
        allow_version=False,
    )
    assert sorted(p for p, _ in problems.items) == ["supports.device", "supports.version"]


def test_unknown_variant_value_is_a_problem() -> None:
    problems = Problems("c.yaml")
    parse_condition({"device": "tpu"}, "when", problems, variant_names={"device": DEVICE_VALUES})
    [(path, message)] = problems.items
    assert path == "when.device"
    assert "tpu" in message and "cpu, cuda, rocm" in message
