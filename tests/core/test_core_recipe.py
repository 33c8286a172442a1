"""Recipes (CONTRACTS §2) through `Recipe.from_dict` with a `Problems` collector, and YAML I/O."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.errors import FormatError, Problem
from mlenv.recipe import Recipe
from mlenv.sources import (
    ArtifactSource,
    CondaSource,
    DetectSource,
    LocalSource,
    PypiSource,
    WheelFileSource,
)
from mlenv.yamlio import Problems, locate_line, parse_yaml, read_yaml

CONTRACT_EXAMPLE = """
name: onnxruntime
kind: framework
summary: ONNX Runtime inference engine
provides: [inference-engine]
variants:
  device: {values: [cpu, cuda], default: cpu}
versions:
  - "1.20.1"
  - version: "1.18.1"
    requires: ["numpy <2"]
requires:
  - python >=3.10
  - {require: "cuda-runtime >=12,<13", when: {device: cuda}}
supports: {os: [linux, darwin, windows], arch: [x86_64, aarch64, arm64]}
install:
  - {pypi: ["onnxruntime=={version}"], when: {device: cpu}}
  - {pypi: ["onnxruntime-gpu=={version}"], when: {device: cuda}}
"""


def wheres(problems: Problems) -> list[str]:
    return [p.where for p in problems.problems()]


def test_contract_example_parses(parse) -> None:
    recipe, problems = parse(Recipe, CONTRACT_EXAMPLE, "recipes/frameworks/onnxruntime.yaml")
    assert not problems, problems.problems()
    assert recipe.name == "onnxruntime"
    assert recipe.kind == "framework"
    assert recipe.provides == ("inference-engine",)
    assert [v.text for v in recipe.versions] == ["1.20.1", "1.18.1"]
    assert recipe.versions[0].requires == ()
    [dep] = recipe.versions[1].requires
    assert dep.requirement.name == "numpy"
    assert dep.requirement.specifier == SpecifierSet("<2")
    device = recipe.variant("device")
    assert device is not None
    assert device.values == ("cpu", "cuda")
    assert device.default == "cpu"
    assert recipe.default_variants() == {"device": "cpu"}
    assert recipe.variant("nope") is None
    python, cuda = recipe.requires
    assert python.requirement.name == "python" and not python.when
    assert cuda.requirement.name == "cuda-runtime"
    assert cuda.when.keys() == {"device"}
    facts = {"os": "linux", "arch": "x86_64", "python": "3.11"}
    assert cuda.when.holds(variants={"device": "cuda"}, version=Version("1.20.1"), facts=facts)
    assert not cuda.when.holds(variants={"device": "cpu"}, version=Version("1.20.1"), facts=facts)
    assert recipe.supports.holds(variants={}, version=None, facts=facts)
    assert not recipe.supports.holds(variants={}, version=None, facts={**facts, "arch": "riscv64"})
    cpu, gpu = recipe.install
    assert cpu.source == PypiSource(requirements=("onnxruntime=={version}",))
    assert gpu.source.substituted({"version": "1.20.1"}) == PypiSource(
        requirements=("onnxruntime-gpu==1.20.1",)
    )
    assert recipe.version(Version("1.18.1")) is recipe.versions[1]
    assert recipe.version(Version("9")) is None


def test_versions_are_sorted_newest_first(parse) -> None:
    recipe, problems = parse(
        Recipe,
        """
        name: a
        kind: tool
        versions: ["1.2", "1.10", "1.9.1", {version: "2.0rc1"}]
        """,
    )
    assert not problems
    assert [str(v.version) for v in recipe.versions] == ["2.0rc1", "1.10", "1.9.1", "1.2"]


def test_unknown_keys_name_the_dotted_path_and_line(parse) -> None:
    recipe, problems = parse(
        Recipe,
        """
        name: foo
        kind: framework
        variants:
          device: {values: [cpu, cuda], default: cpu, colour: red}
        versions:
          - "1.0"
          - version: "2.0"
            requires: numpy
            bogus: 1
        requires:
          - {require: "python >=3.10", if: {os: linux}}
        colour: blue
        """,
    )
    got = dict((p.where, p.message) for p in problems.problems())
    assert set(got) == {
        "file.yaml:4: variants.device.colour",
        "file.yaml:8: versions[1].requires",
        "file.yaml:9: versions[1].bogus",
        "file.yaml:11: requires[0].if",
        "file.yaml:12: colour",
    }, got
    assert "unknown key 'colour'" in got["file.yaml:12: colour"]
    assert "expected a list" in got["file.yaml:8: versions[1].requires"]
    assert "unknown key 'bogus'" in got["file.yaml:9: versions[1].bogus"]
    assert recipe.name == "foo"


def test_every_problem_of_a_file_is_collected_at_once(parse) -> None:
    text = """
    name: Foo_Bar
    kind: gadget
    provides: [Bad Name]
    variants:
      device: {values: [cpu, cuda], default: tpu}
    versions:
      - "1.0"
      - "not-a-version"
      - "1.0"
    requires:
      - "Numpy"
      - 42
      - {require: "a", when: {flavour: x}}
      - {require: "b", when: {cuda: "not a spec"}}
    supports: {os: linux, version: ">=1"}
    format: onnx
    metric: top1
    install:
      - {pypi: ["x"], conda: {channels: [c], specs: [x]}}
      - {artifact: {url: "https://x/y.tar"}}
      - {artifact: {url: "https://x/y.tar", sha256: "abc", extract: rar}}
      - {nothing: 1}
    """
    _, problems = parse(Recipe, text, "r.yaml")
    found = problems.problems()
    paths = [p.where.split(": ", 1)[1] for p in found]
    for expected in (
        "name",
        "kind",
        "provides[0]",
        "variants.device.default",
        "versions[1]",
        "versions[2]",
        "requires[0]",
        "requires[1]",
        "requires[2].when.flavour",
        "requires[3].when.cuda",
        "supports.version",
        "format",
        "metric",
        "install[0]",
        "install[1].artifact.sha256",
        "install[2].artifact.sha256",
        "install[2].artifact.extract",
        "install[3]",
    ):
        assert expected in paths, (expected, paths)
    with pytest.raises(FormatError) as info:
        problems.raise_if_any("recipe", hint="see CONTRACTS §2")
    err = info.value
    assert err.message == f"recipe r.yaml has {len(found)} problems"
    assert err.problems == tuple(found)
    assert err.hint == "see CONTRACTS §2"
    # a requirement problem keeps its caret under the bad span
    req_problem = next(p for p in found if p.where.endswith("requires[0]"))
    assert "Numpy\n^^^^^" in req_problem.message
    # and the lines are right
    by_path = {p.where.split(": ", 1)[1]: p.where for p in found}
    assert by_path["kind"] == "r.yaml:2: kind"
    assert by_path["versions[2]"] == "r.yaml:9: versions[2]"
    assert by_path["install[2].artifact.extract"] == "r.yaml:21: install[2].artifact.extract"


def test_a_single_problem_is_singular() -> None:
    problems = Problems("x.yaml", "a: 1\n")
    problems.add("a", "bad")
    with pytest.raises(FormatError) as info:
        problems.raise_if_any("thing")
    assert info.value.message == "thing x.yaml has 1 problem"
    assert problems.problems() == [Problem(where="x.yaml:1: a", message="bad")]


def test_problems_without_text_or_path() -> None:
    problems = Problems("x.yaml")
    problems.add("a.b", "no text")
    problems.add("", "whole file")
    assert [p.where for p in problems.problems()] == ["x.yaml: a.b", "x.yaml"]
    Problems("y.yaml").raise_if_any("nothing to raise")


def test_not_a_mapping(parse) -> None:
    _, problems = parse(Recipe, "- just\n- a list\n")
    first = problems.problems()[0]
    assert first.where == "file.yaml"
    assert first.message == "expected a mapping, got a list"


def test_missing_required_keys(parse) -> None:
    _, problems = parse(Recipe, "summary: nothing else\n")
    paths = {p.where.split(": ", 1)[-1] for p in problems.problems()}
    assert {"name", "kind", "versions"} <= paths


def test_variant_value_in_when_must_be_declared(parse) -> None:
    """`when: {device: tpu}` for a variant whose values are cpu, cuda can never hold: a typo."""
    _, problems = parse(
        Recipe,
        """
        name: a
        kind: framework
        variants:
          device: {values: [cpu, cuda], default: cpu}
        versions: ["1.0"]
        requires:
          - {require: "b", when: {device: tpu}}
        """,
    )
    assert [p.where for p in problems.problems()] == ["file.yaml:7: requires[0].when.device"]


def test_unquoted_float_version_is_not_silently_changed(parse) -> None:
    """`- 1.10` is a YAML float (1.1): reading it as version 1.1 would lock the wrong release."""
    recipe, problems = parse(Recipe, "name: a\nkind: tool\nversions: [1.10]\n")
    if not problems:
        assert [v.text for v in recipe.versions] == ["1.10"]


def test_model_and_dataset_fields(parse) -> None:
    model, problems = parse(
        Recipe,
        """
        name: digits-mlp
        kind: model
        task: classification
        format: onnx
        versions: ["1"]
        inputs: [{name: x, shape: [-1, 64], dtype: float32}]
        outputs: [{name: y, shape: [-1, 10], dtype: float32}]
        reference-accuracy: {top1: 0.97}
        install:
          - artifact: {url: digits-mlp.onnx, sha256: "%s", size: 10}
        """
        % ("a" * 64),
    )
    assert not problems, problems.problems()
    assert model.format == "onnx"
    assert model.inputs[0].to_dict() == {"name": "x", "shape": [-1, 64], "dtype": "float32"}
    assert model.outputs[0].shape == (-1, 10)
    assert model.reference_accuracy == (("top1", 0.97),)
    [entry] = model.install
    assert entry.source == ArtifactSource(url="digits-mlp.onnx", sha256="a" * 64, size=10)

    dataset, problems = parse(
        Recipe,
        """
        name: digits
        kind: dataset
        task: classification
        versions: ["1"]
        samples: 360
        performance-sample-count: 360
        preprocess: {name: scale, factor: 16}
        metric: top1
        install:
          - wheel-file: {requirement: "scikit-learn==1.5.2", path: "sklearn/datasets/data/digits.csv.gz", sha256: "%s"}
        """
        % ("B" * 64),
    )
    assert not problems, problems.problems()
    assert dataset.samples == 360
    assert dataset.performance_sample_count == 360
    assert dataset.preprocess_map == {"name": "scale", "factor": 16}
    assert dataset.metric == "top1"
    [entry] = dataset.install
    assert isinstance(entry.source, WheelFileSource)
    assert entry.source.sha256 == "b" * 64  # digests are normalized to lower case


def test_model_field_checks(parse) -> None:
    _, problems = parse(
        Recipe,
        """
        name: m
        kind: model
        format: pickle
        versions: ["1"]
        inputs: [{name: x, shape: [1, "a"], dtype: float32}]
        reference-accuracy: {top1: high}
        preprocess: {factor: 2}
        """,
    )
    paths = {p.where.split(": ", 1)[1] for p in problems.problems()}
    assert {"format", "inputs[0].shape", "reference-accuracy.top1", "preprocess"} <= paths


def test_every_source_kind(parse) -> None:
    sha = "0" * 64
    recipe, problems = parse(
        Recipe,
        f"""
        name: s
        kind: dataset
        variants: {{size: {{values: [small, big], default: small}}}}
        versions: ["2.0"]
        install:
          - pypi: ["s=={{version}}"]
          - conda: {{channels: [conda-forge], specs: ["s {{version}}"]}}
          - artifact: {{url: "https://h/s-{{size}}-{{version}}.tar.gz", sha256: "{sha}", extract: tar, strip: 1, path: data.bin}}
            when: {{size: big}}
          - artifact: {{url: "https://h/s.zip", md5: "{"f" * 32}", extract: zip}}
          - local: {{env: IMAGENET_DIR, tree-sha256: "{sha}"}}
          - detect: {{executables: [gcc-13, gcc], args: [--version], regex: "(\\\\d+\\\\.\\\\d+)"}}
        """,
    )
    assert not problems, problems.problems()
    kinds = [type(e.source) for e in recipe.install]
    assert kinds == [
        PypiSource,
        CondaSource,
        ArtifactSource,
        ArtifactSource,
        LocalSource,
        DetectSource,
    ]
    values = {"version": "2.0", "size": "big"}
    assert recipe.install[1].source.substituted(values) == CondaSource(
        channels=("conda-forge",), specs=("s 2.0",)
    )
    art = recipe.install[2].source.substituted(values)
    assert art.url == "https://h/s-big-2.0.tar.gz"
    assert (art.extract, art.strip, art.path) == ("tar", 1, "data.bin")
    assert recipe.install[2].when.keys() == {"size"}
    assert recipe.install[3].source.md5 == "f" * 32 and recipe.install[3].source.sha256 is None
    assert recipe.install[4].source == LocalSource(env="IMAGENET_DIR", tree_sha256=sha)
    detect = recipe.install[5].source
    assert detect.executables == ("gcc-13", "gcc") and detect.regex == r"(\d+\.\d+)"


def test_detect_only_recipe_needs_no_versions(parse) -> None:
    _, problems = parse(
        Recipe,
        """
        name: gcc
        kind: compiler
        install:
          - detect: {executables: [gcc], args: [--version], regex: "("}
        """,
    )
    assert wheres(problems) == ["file.yaml:4: install[0].detect.regex"]


def test_unknown_placeholders_stay() -> None:
    assert PypiSource(requirements=("x=={version}{other}",)).substituted(
        {"version": "1"}
    ).requirements == ("x==1{other}",)


# -- YAML I/O -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: a\nkind: b\n  extra: c\n", "bad.yaml:3:8"),
        ("name: a\nversions: [1, 2\nkind: tool\n", "bad.yaml:3:5"),
        ("name: 'unterminated\n", "bad.yaml:2:1"),
        ("a:\n\tb: 1\n", "bad.yaml:2:1"),
    ],
)
def test_malformed_yaml_names_file_line_column(text: str, where: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_yaml(text, "bad.yaml")
    err = info.value
    assert err.where == where
    assert err.message.startswith("malformed YAML")
    assert f"at {where}" in str(err)
    assert err.hint


def test_read_yaml_and_missing_file(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: a\n", encoding="utf-8")
    data, text = read_yaml(path)
    assert data == {"name": "a"} and text == "name: a\n"
    with pytest.raises(FormatError, match="file not found"):
        read_yaml(tmp_path / "missing.yaml")
    (tmp_path / "latin1.yaml").write_bytes(b"name: \xe9\n")
    with pytest.raises(FormatError, match="cannot read"):
        read_yaml(tmp_path / "latin1.yaml")


def test_locate_line_falls_back_to_nearest_parent() -> None:
    text = "a:\n  b:\n    - x\n    - y: 1\nc: 2\n"
    assert locate_line(text, "a") == 1
    assert locate_line(text, "a.b") == 2
    assert locate_line(text, "a.b[1]") == 4
    assert locate_line(text, "a.b[1].y") == 4
    assert locate_line(text, "a.b[7]") == 2
    assert locate_line(text, "a.missing") == 1
    assert locate_line(text, "c") == 5
    assert locate_line("a: [", "a") is None
