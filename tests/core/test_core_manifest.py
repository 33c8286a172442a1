"""The manifest `mlenv.yaml` (CONTRACTS §1)."""

from __future__ import annotations

import pytest

from mlenv.errors import FormatError
from mlenv.manifest import Benchmark, Manifest, load_manifest
from mlenv.requirement import parse_requirement

CONTRACT_EXAMPLE = """
name: digits                      # required
recipes: [./recipes]
targets: [host]
prefer: {inference-engine: onnxruntime}
requires:
  - digits-mlp
  - digits
  - onnxruntime >=1.17
benchmark:
  model: digits-mlp
  dataset: digits
  backend: onnxruntime
  scenarios: [Offline, SingleStream]
  modes: [performance, accuracy]
  settings:
    min_duration: 2000
    Server: {target_qps: 500}
"""


def test_contract_example(parse) -> None:
    manifest, problems = parse(Manifest, CONTRACT_EXAMPLE, "mlenv.yaml")
    assert not problems, problems.problems()
    assert manifest.name == "digits"
    assert manifest.recipes == ("./recipes",)
    assert manifest.targets == ("host",)
    assert manifest.prefer == (("inference-engine", "onnxruntime"),)
    assert manifest.requires == (
        parse_requirement("digits-mlp"),
        parse_requirement("digits"),
        parse_requirement("onnxruntime >=1.17"),
    )
    assert manifest.requires_text == ("digits-mlp", "digits", "onnxruntime >=1.17")
    b = manifest.benchmark
    assert isinstance(b, Benchmark)
    assert (b.model, b.dataset, b.backend) == ("digits-mlp", "digits", "onnxruntime")
    assert b.scenarios == ("Offline", "SingleStream")
    assert b.settings_for("Server") == {"min_duration": 2000, "target_qps": 500}
    assert b.settings_for("Offline") == {"min_duration": 2000}
    assert manifest.to_dict()["benchmark"]["settings"] == {
        "min_duration": 2000,
        "Server": {"target_qps": 500},
    }


def test_defaults(parse) -> None:
    manifest, problems = parse(Manifest, "name: x\nrequires: [a]\n")
    assert not problems
    assert manifest.targets == ("host",)
    assert manifest.recipes == ()
    assert manifest.prefer == ()
    assert manifest.benchmark is None
    assert manifest.to_dict() == {
        "name": "x",
        "recipes": [],
        "targets": ["host"],
        "prefer": {},
        "requires": ["a"],
    }


def test_benchmark_defaults(parse) -> None:
    manifest, problems = parse(
        Manifest, "name: x\nrequires: [m]\nbenchmark: {model: m, dataset: d, backend: b}\n"
    )
    assert not problems
    b = manifest.benchmark
    assert b.scenarios == ("Offline", "SingleStream")
    assert b.modes == ("performance", "accuracy")
    assert b.settings_for("Offline") == {}


def test_digest_is_of_the_normalized_manifest(parse) -> None:
    a, _ = parse(
        Manifest, "name: x\nrequires: ['onnxruntime>=1.17,<2', numpy]\nprefer: {v: a, w: b}\n"
    )
    b, _ = parse(
        Manifest,
        "# a comment\nprefer: {w: b, v: a}\nrequires: ['onnxruntime <2, >=1.17', numpy]\nname: x\n",
    )
    c, _ = parse(
        Manifest, "name: x\nrequires: ['onnxruntime>=1.18,<2', numpy]\nprefer: {v: a, w: b}\n"
    )
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
    assert a.digest().startswith("sha256:") and len(a.digest()) == 7 + 64


def test_duplicate_targets_collapse(parse) -> None:
    manifest, _ = parse(
        Manifest, "name: x\nrequires: [a]\ntargets: [host, linux-x86_64-cpu, host]\n"
    )
    assert manifest.targets == ("host", "linux-x86_64-cpu")


def test_every_problem_with_its_line(parse) -> None:
    text = """
    name: x
    require: [a]
    prefer: {inference-engine: 7}
    benchmark:
      model: m
      scenarios: [Offline, Batch]
      modes: [speed]
      settings:
        min_duration: [1, 2]
        Server: 5
        Offline: {target_qps: {a: 1}}
      colour: red
    """
    _, problems = parse(Manifest, text, "mlenv.yaml")
    got = {p.where for p in problems.problems()}
    assert {
        "mlenv.yaml:2: require",
        "mlenv.yaml:1: requires",  # missing: located at its parent
        "mlenv.yaml:3: prefer.inference-engine",
        "mlenv.yaml:6: benchmark.scenarios[1]",
        "mlenv.yaml:7: benchmark.modes[0]",
        "mlenv.yaml:9: benchmark.settings.min_duration",
        "mlenv.yaml:10: benchmark.settings.Server",
        "mlenv.yaml:11: benchmark.settings.Offline.target_qps",
        "mlenv.yaml:12: benchmark.colour",
        "mlenv.yaml:4: benchmark.dataset",
        "mlenv.yaml:4: benchmark.backend",
    } <= got, got


def test_invalid_requirement_in_manifest_carries_the_caret(parse) -> None:
    _, problems = parse(Manifest, "name: x\nrequires:\n  - ok\n  - 'onnxruntime >=1.x'\n")
    [problem] = problems.problems()
    assert problem.where == "file.yaml:4: requires[1]"
    assert "onnxruntime >=1.x\n            ^^^^^" in problem.message


def test_empty_requires_is_a_problem(parse) -> None:
    _, problems = parse(Manifest, "name: x\nrequires: []\n")
    assert [p.where for p in problems.problems()] == ["file.yaml:2: requires"]


def test_load_manifest(tmp_path) -> None:
    path = tmp_path / "mlenv.yaml"
    path.write_text("name: x\nrequires: [a, 'b[device=cuda] >=1']\n", encoding="utf-8")
    manifest = load_manifest(path)
    assert manifest.requires[1].variant_map == {"device": "cuda"}

    path.write_text("name: x\nrequires: [a]\nextra: 1\nbenchmark: 3\n", encoding="utf-8")
    with pytest.raises(FormatError) as info:
        load_manifest(path)
    err = info.value
    assert err.message == f"manifest {path} has 2 problems"
    assert [p.where for p in err.problems] == [f"{path}:3: extra", f"{path}:4: benchmark"]

    path.write_text("name: x\nrequires: [a\n", encoding="utf-8")
    with pytest.raises(FormatError) as info:
        load_manifest(path)
    assert info.value.where == f"{path}:3:1"

    with pytest.raises(FormatError, match="file not found"):
        load_manifest(tmp_path / "nope.yaml")
