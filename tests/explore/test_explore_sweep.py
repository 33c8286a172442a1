"""The sweep file (CONTRACTS §12) as data: good files load into the model they say; every
mistake is an error located at its line and dotted key (keys that hold dots included)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from mlenv.errors import FormatError
from mlenv.explore.sweep import Search, load_sweep
from mlenv.yamlio import locate_line as locate_key

BASE = """\
name: demo
requires: ["onnxruntime[device=cpu] >=1.17", digits-mlp, digits]
benchmark: {model: digits-mlp, dataset: digits, backend: onnxruntime}
"""


def write(tmp_path: Path, sweep: str, base: str = BASE) -> Path:
    (tmp_path / "mlenv.yaml").write_text(base, encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(dedent(sweep), encoding="utf-8")
    return path


GOOD = [
    (
        "the contract's example",
        """
        name: digits-threads
        base: ./mlenv.yaml
        axes:
          benchmark.threads: [1, 2]
          benchmark.max-batch: [1, 64]
          pin.onnxruntime: ["1.23.2", "1.22.0"]
          variant.onnxruntime.device: [cpu]
          settings.Offline.target_qps: [1000]
          target: [host]
        exclude:
          - {benchmark.threads: 1, benchmark.max-batch: 64}
        scenarios: [Offline, SingleStream]
        modes: [performance, accuracy]
        profile: quick
        repeat: 1
        objectives: {samples_per_second: max, latency_ns.p90: min, accuracy.top1: max}
        search: {kind: grid}
        """,
        {
            "name": "digits-threads",
            "base": "./mlenv.yaml",
            "axes": {
                "benchmark.threads": [1, 2],
                "benchmark.max-batch": [1, 64],
                "pin.onnxruntime": ["1.23.2", "1.22.0"],
                "variant.onnxruntime.device": ["cpu"],
                "settings.Offline.target_qps": [1000],
                "target": ["host"],
            },
            "exclude": [{"benchmark.threads": 1, "benchmark.max-batch": 64}],
            "scenarios": ["Offline", "SingleStream"],
            "modes": ["performance", "accuracy"],
            "profile": "quick",
            "repeat": 1,
            "objectives": {
                "samples_per_second": "max",
                "latency_ns.p90": "min",
                "accuracy.top1": "max",
            },
            "search": {"kind": "grid"},
        },
    ),
    (
        "the least: a name and axes; base defaults to mlenv.yaml",
        "name: s\naxes: {settings.min_duration: [100, 200]}\n",
        {
            "name": "s",
            "base": "mlenv.yaml",
            "axes": {"settings.min_duration": [100, 200]},
            "search": {"kind": "grid"},
        },
    ),
    (
        "a random search keeps its seed",
        "name: r\naxes: {benchmark.threads: [1, 2, 4]}\nsearch: {kind: random, points: 2, seed: 7}\n",
        {
            "name": "r",
            "base": "mlenv.yaml",
            "axes": {"benchmark.threads": [1, 2, 4]},
            "search": {"kind": "random", "points": 2, "seed": 7},
        },
    ),
]


@pytest.mark.parametrize(("label", "text", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_good_sweep_files_load(tmp_path: Path, label: str, text: str, expected: dict) -> None:
    loaded = load_sweep(write(tmp_path, text))
    assert loaded.sweep.to_dict() == expected
    assert loaded.base_path == tmp_path / "mlenv.yaml"
    assert loaded.root == tmp_path / ".mlenv" / "sweeps" / expected["name"]


# (sweep text, the line and dotted key of the one problem, words of its message)
BAD = [
    ("axes: {benchmark.threads: [1]}\n", "1: name", "missing required key 'name'"),
    ("name: s\n", "1: axes", "missing required key 'axes'"),
    ("name: s\naxes: {}\ncolour: red\n", "3: colour", "unknown key 'colour'"),
    ("name: ../up\naxes: {benchmark.threads: [1]}\n", "1: name", "invalid"),
    ("name: s\naxes:\n  benchmark.colour: [1]\n", "3: axes.benchmark.colour", "benchmark.KEY"),
    ("name: s\naxes:\n  flavour: [1]\n", "3: axes.flavour", "unknown axis"),
    ("name: s\naxes:\n  requires: [x]\n", "3: axes.requires", "use pin.NAME"),
    ("name: s\naxes:\n  targets: [host]\n", "3: axes.targets", "use target"),
    ("name: s\naxes:\n  pin.onnxruntime: []\n", "3: axes.pin.onnxruntime", "non-empty list"),
    ("name: s\naxes:\n  pin.onnxruntime: 1\n", "3: axes.pin.onnxruntime", "non-empty list"),
    (
        "name: s\naxes:\n  pin.onnxruntime:\n    - '1.22.0'\n    - 1.10\n",
        "5: axes.pin.onnxruntime[1]",
        "quote it",
    ),
    (
        "name: s\naxes:\n  pin.onnxruntime: [banana]\n",
        "3: axes.pin.onnxruntime[0]",
        "invalid version",
    ),
    ("name: s\naxes:\n  benchmark.threads: [1, 1]\n", "3: axes.benchmark.threads[1]", "twice"),
    (
        "name: s\naxes:\n  benchmark.threads: [[1]]\n",
        "3: axes.benchmark.threads[0]",
        "single value",
    ),
    ("name: s\naxes:\n  settings.Turbo.x.y: [1]\n", "3: axes.settings.Turbo.x.y", "settings.KEY"),
    (
        "name: s\naxes:\n  benchmark.threads: [1, 2]\nexclude:\n  - {benchmark.threads: 3}\n",
        "5: exclude[0].benchmark.threads",
        "would exclude nothing",
    ),
    (
        "name: s\naxes:\n  benchmark.threads: [1]\nexclude:\n  - {target: host}\n",
        "5: exclude[0].target",
        "is not an axis",
    ),
    ("name: s\naxes: {}\nscenarios: [Offline, Turbo]\n", "3: scenarios[1]", "unknown scenario"),
    ("name: s\naxes: {}\nmodes: [speed]\n", "3: modes[0]", "unknown mode"),
    ("name: s\naxes: {}\nprofile: fast\n", "3: profile", "unknown profile"),
    ("name: s\naxes: {}\nrepeat: 0\n", "3: repeat", ">= 1"),
    (
        "name: s\naxes: {}\nobjectives: {samples_per_second: most}\n",
        "3: objectives.samples_per_second",
        "max or min",
    ),
    ("name: s\naxes: {}\nsearch: {kind: annealing}\n", "3: search.kind", "unknown search"),
    ("name: s\naxes: {}\nsearch: {kind: random}\n", "3: search.points", "needs `points: N`"),
    ("name: s\naxes: {}\nsearch: {kind: grid, points: 3}\n", "3: search.points", "every point"),
    ("name: s\naxes: {}\nsearch: {kind: random, points: 0}\n", "3: search.points", ">= 1"),
    ("name: s\naxes:\n  pin.torch: ['2.8.0']\n", "3: axes.pin.torch", "not required by the base"),
    (
        "name: s\naxes:\n  variant.torch.device: [cpu]\n",
        "3: axes.variant.torch.device",
        "not required",
    ),
]


@pytest.mark.parametrize(("text", "where", "words"), BAD, ids=[b[1] + " " + b[2] for b in BAD])
def test_each_mistake_is_located(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FormatError) as caught:
        load_sweep(path)
    found = [(p.where, p.message) for p in caught.value.problems]
    assert len(found) == 1, found
    assert found[0][0] == f"{path}:{where}"
    assert words in found[0][1]


def test_optuna_needs_optuna(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("optuna") is not None:
        loaded = load_sweep(
            write(tmp_path, "name: o\naxes: {}\nsearch: {kind: optuna, points: 4}\n")
        )
        assert loaded.sweep.search == Search(kind="optuna", points=4)
        return
    with pytest.raises(FormatError) as caught:
        load_sweep(write(tmp_path, "name: o\naxes: {}\nsearch: {kind: optuna, points: 4}\n"))
    (problem,) = caught.value.problems
    assert problem.where.endswith(":3: search.kind") and "pip install optuna" in problem.message


def test_a_missing_base_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "name: s\nbase: ../elsewhere/mlenv.yaml\naxes: {}\n")
    with pytest.raises(FormatError) as caught:
        load_sweep(path)
    assert caught.value.where == f"{path}:2: base"
    assert "does not exist" in caught.value.message


def test_locate_key_matches_keys_that_hold_dots() -> None:
    text = "a: 1\naxes:\n  benchmark: 0\n  benchmark.threads:\n    - 1\n    - 2\n"
    assert locate_key(text, "axes.benchmark.threads[1]") == 6
    assert locate_key(text, "axes.benchmark.threads") == 4
    assert locate_key(text, "axes.benchmark") == 3
    assert locate_key(text, "axes.nothing") == 2


@pytest.mark.parametrize(("label", "text", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_the_published_schema_accepts_the_good_files(label: str, text: str, expected: dict) -> None:
    import json

    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    root = Path(__file__).resolve().parents[2]
    schema = json.loads((root / "schemas" / "sweep.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(dedent(text)))) == []
    assert list(validator.iter_errors(expected)) == []  # what to_dict writes, too
    assert [e.message for e in validator.iter_errors({"name": "x", "axes": {"a": []}})]
