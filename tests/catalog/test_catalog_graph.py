"""The recipe graph of every built-in stack solves offline for every built-in target it supports
(no uv, no network: the PyPI/conda closures are checked by test_catalog_resolve.py), and the
targets' fields agree with each other."""

from __future__ import annotations

import pytest

from mlenv.errors import ResolutionError
from mlenv.index import RecipeIndex
from mlenv.manifest import load_manifest
from mlenv.paths import builtin_recipes_dir
from mlenv.requirement import parse_requirement
from mlenv.resolver.solve import solve
from mlenv.target import Target

EXAMPLES = sorted((builtin_recipes_dir() / "examples").glob("*.yaml"))


def packages(index: RecipeIndex, target: Target, requires: list[str]) -> dict[str, str]:
    solution = solve(
        index,
        [parse_requirement(r) for r in requires],
        target.facts(),
        target_name=target.name,
        tools={name: [version] for name, version in target.tools},
    )
    return {name: str(c.version) for name, c in solution.packages.items() if c.located}


def test_targets_are_consistent(builtin_index: RecipeIndex) -> None:
    assert set(builtin_index.targets) == {
        "linux-x86_64-cpu",
        "linux-aarch64-cpu",
        "linux-x86_64-cuda12",
        "linux-x86_64-cuda13",
        "macos-arm64",
    }
    conda = {("linux", "x86_64"): "linux-64", ("linux", "aarch64"): "linux-aarch64"}
    conda[("darwin", "arm64")] = "osx-arm64"
    for name, (t, _label) in builtin_index.targets.items():
        assert name == t.name and name.startswith(f"{'macos' if t.os == 'darwin' else t.os}-")
        assert t.conda_platform == conda[(t.os, t.arch)], name
        assert t.pypi_platform and t.pypi_platform.startswith(
            "aarch64" if t.arch in ("aarch64", "arm64") else "x86_64"
        ), name
        if t.os == "linux":
            assert t.glibc and f"manylinux_{t.glibc.replace('.', '_')}" in t.pypi_platform, name
        cuda = dict(t.tools).get("cuda-driver")
        if t.accelerator.kind == "cuda":
            assert name.endswith("cuda" + t.accelerator.cuda.split(".")[0]), name
            assert cuda == t.accelerator.cuda, name  # the driver, as nvidia-smi would report it
        else:
            assert cuda is None, name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_solve_on_every_target(example, builtin_index: RecipeIndex) -> None:
    manifest = load_manifest(example)
    requires = [str(r) for r in manifest.requires] + ["mlperf-loadgen"]
    for name, (target, _label) in builtin_index.targets.items():
        found = packages(builtin_index, target, requires)
        assert manifest.benchmark is not None
        assert manifest.benchmark.model in found and manifest.benchmark.dataset in found, name
        assert ("gcc" in found) == (target.arch == "aarch64"), name  # LoadGen's sdist build


@pytest.mark.parametrize("framework", ["onnxruntime", "torch", "tflite", "openvino", "tvm"])
def test_frameworks_solve_where_they_are_supported(
    framework: str, builtin_index: RecipeIndex
) -> None:
    recipe = builtin_index.recipes[framework].recipe
    for name, (target, _label) in builtin_index.targets.items():
        supported = recipe.supports.holds(variants={}, version=None, facts=target.facts())
        if supported:
            found = packages(builtin_index, target, [framework])
            assert found[framework] == str(recipe.versions[0].version), name
        else:
            with pytest.raises(ResolutionError):
                packages(builtin_index, target, [framework])


def test_cuda_variants_pick_builds_the_driver_runs(builtin_index: RecipeIndex) -> None:
    targets = {n: t for n, (t, _label) in builtin_index.targets.items()}
    requires = ["onnxruntime[device=cuda]", "torch[device=cuda]"]
    cuda12 = packages(builtin_index, targets["linux-x86_64-cuda12"], requires)
    cuda13 = packages(builtin_index, targets["linux-x86_64-cuda13"], requires)
    assert (cuda12["torch"], cuda13["torch"]) == ("2.10.0", "2.11.0")  # 2.11 is a CUDA 13 build
    assert cuda12["cuda-driver"] == "12.4" and cuda13["cuda-driver"] == "13.0"
    assert cuda12["onnxruntime"] == cuda13["onnxruntime"] == "1.23.2"  # CUDA 12, runs on 13
    for name in ("linux-x86_64-cpu", "macos-arm64"):
        with pytest.raises(ResolutionError, match="cuda-driver"):
            packages(builtin_index, targets[name], ["onnxruntime[device=cuda]"])
    # onnxruntime-gpu 1.18 is a CUDA 11.8 build: a 12.x driver runs it too
    old = packages(
        builtin_index, targets["linux-x86_64-cuda12"], ["onnxruntime[device=cuda]==1.18.1"]
    )
    assert old["onnxruntime"] == "1.18.1"


def test_loadgen_from_source_brings_compiler_and_cmake(builtin_index: RecipeIndex) -> None:
    target, _label = builtin_index.targets["linux-x86_64-cpu"]
    found = packages(builtin_index, target, ["mlperf-loadgen[build=source]"])
    assert {"gcc", "cmake"} <= set(found)
    assert "gcc" not in packages(builtin_index, target, ["mlperf-loadgen"])
