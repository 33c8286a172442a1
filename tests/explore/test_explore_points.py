"""Points as data: the product of the axes minus `exclude`, a seeded random sample, each point a
derived manifest (pins, variants, settings, target, recipe folders that resolve from the point's
folder) whose id is the sha256 of that manifest, the same on every run."""

from __future__ import annotations

import shutil
from pathlib import Path
from textwrap import dedent

import pytest

from mlenv.errors import FormatError
from mlenv.explore.points import combinations, expand, point_dir, write_point
from mlenv.explore.sweep import load_sweep
from mlenv.manifest import load_manifest

BASE = """\
name: demo
recipes: [./recipes]
requires: ["onnxruntime[device=cpu] >=1.17", digits-mlp, digits]
benchmark:
  model: digits-mlp
  dataset: digits
  backend: onnxruntime
  settings: {min_duration: 500}
"""


def sweep(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mlenv.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(dedent(text), encoding="utf-8")
    return path


def params(tmp_path: Path, text: str) -> list[dict]:
    return [dict(p) for p in combinations(load_sweep(sweep(tmp_path, text)).sweep)]


def test_grid_is_the_product_in_axis_order(tmp_path: Path) -> None:
    got = params(
        tmp_path, "name: g\naxes: {benchmark.threads: [1, 2], benchmark.max-batch: [1, 64]}\n"
    )
    assert got == [
        {"benchmark.threads": 1, "benchmark.max-batch": 1},
        {"benchmark.threads": 1, "benchmark.max-batch": 64},
        {"benchmark.threads": 2, "benchmark.max-batch": 1},
        {"benchmark.threads": 2, "benchmark.max-batch": 64},
    ]


def test_exclude_leaves_out_partial_points(tmp_path: Path) -> None:
    got = params(
        tmp_path,
        """
        name: g
        axes: {benchmark.threads: [1, 2], benchmark.max-batch: [1, 64], target: [host]}
        exclude:
          - {benchmark.threads: 1, benchmark.max-batch: 64}
          - {benchmark.threads: 2, benchmark.max-batch: 1, target: host}
        """,
    )
    assert [(p["benchmark.threads"], p["benchmark.max-batch"]) for p in got] == [(1, 1), (2, 64)]


def test_no_axes_is_the_base_manifest_alone(tmp_path: Path) -> None:
    assert params(tmp_path, "name: g\naxes: {}\n") == [{}]


def test_exclude_values_match_by_type(tmp_path: Path) -> None:
    # 1 and true are different YAML values: excluding `true` must not drop the point 1
    got = params(
        tmp_path,
        "name: g\naxes: {prefer.x: [1, true]}\nexclude: [{prefer.x: true}]\n",
    )
    assert got == [{"prefer.x": 1}]


RANDOM = """
name: r
axes: {benchmark.threads: [1, 2, 3, 4], benchmark.max-batch: [1, 8, 64]}
search: {kind: random, points: 5, seed: SEED}
"""


def test_random_is_a_seeded_sample_without_replacement(tmp_path: Path) -> None:
    grid = params(tmp_path, RANDOM.replace("search: {kind: random, points: 5, seed: SEED}", ""))
    first = params(tmp_path, RANDOM.replace("SEED", "3"))
    again = params(tmp_path, RANDOM.replace("SEED", "3"))
    other = params(tmp_path, RANDOM.replace("SEED", "4"))
    assert first == again and len(first) == 5
    assert all(p in grid for p in first)
    assert len({tuple(p.items()) for p in first}) == 5  # no point twice
    assert first == [p for p in grid if p in first]  # kept in product order
    assert other != first  # another seed, another sample (for these two seeds)
    everything = params(tmp_path, RANDOM.replace("points: 5", "points: 99").replace("SEED", "1"))
    assert everything == grid


def test_a_point_is_a_derived_manifest(tmp_path: Path) -> None:
    loaded = load_sweep(
        sweep(
            tmp_path,
            """
            name: d
            axes:
              pin.onnxruntime: ["1.22.0"]
              variant.onnxruntime.device: [cuda]
              settings.Offline.target_qps: [900]
              settings.min_query_count: [16]
              benchmark.threads: [2]
              target: [linux-x86_64-cpu]
            """,
        )
    )
    (point,) = expand(loaded)
    data = point.data
    assert data["requires"] == ["onnxruntime[device=cuda] ==1.22.0", "digits-mlp", "digits"]
    assert data["benchmark"]["settings"] == {
        "min_duration": 500,
        "Offline": {"target_qps": 900},
        "min_query_count": 16,
    }
    assert data["benchmark"]["threads"] == 2
    assert data["targets"] == ["linux-x86_64-cpu"] and point.target == "linux-x86_64-cpu"
    assert data["recipes"] == ["./recipes"]
    (tmp_path / "recipes" / "models").mkdir(parents=True)
    (tmp_path / "recipes" / "models" / "m.yaml").write_text("name: m\n", encoding="utf-8")
    written = write_point(loaded, point)
    assert written == point_dir(loaded, point) / "mlenv.yaml"
    # the point's folder is a whole project: a copy of the base's recipes, kept up to date
    copied = written.parent / "recipes" / "models" / "m.yaml"
    assert copied.read_text(encoding="utf-8") == "name: m\n"
    (tmp_path / "recipes" / "models" / "m.yaml").unlink()
    (tmp_path / "recipes" / "n.yaml").write_text("name: n\n", encoding="utf-8")
    write_point(loaded, point)
    assert not copied.exists() and (written.parent / "recipes" / "n.yaml").is_file()
    # the id is the digest of the manifest as written (what the point's lock will record)
    assert "sha256:" + point.id == load_manifest(written).digest()


def test_point_ids_are_stable(tmp_path: Path) -> None:
    text = "name: s\naxes: {benchmark.threads: [1, 2]}\n"
    ids = [p.id for p in expand(load_sweep(sweep(tmp_path / "a", text)))]
    assert ids == [p.id for p in expand(load_sweep(sweep(tmp_path / "a", text)))]
    # another folder (the whole project moved), another sweep name: the same points
    moved = tmp_path / "b"
    shutil.copytree(tmp_path / "a", moved)
    renamed = text.replace("name: s", "name: other")
    assert ids == [p.id for p in expand(load_sweep(sweep(moved, renamed)))]
    assert len(set(ids)) == 2
    # the values change the id
    assert ids[0] not in [p.id for p in expand(load_sweep(sweep(moved, text.replace("1, 2", "4"))))]


def test_a_value_the_manifest_refuses_is_located_at_its_axis(tmp_path: Path) -> None:
    path = sweep(tmp_path, "name: s\naxes:\n  benchmark.threads: [-1]\n")
    with pytest.raises(FormatError) as caught:
        expand(load_sweep(path))
    (problem,) = caught.value.problems
    assert problem.where == f"{path}:3: axes.benchmark.threads"
    assert (
        "benchmark.threads: -1" in problem.message and "expected an integer >= 0" in problem.message
    )
