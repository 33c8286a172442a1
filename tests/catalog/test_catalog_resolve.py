"""Every built-in stack resolves — recipe graph and PyPI closures, pinned by uv against PyPI —
for every target it supports (network). Locking needs metadata only, never the big artifacts.

One `mlenv resolve` per stack locks all its targets into one lock file; the uv cache is shared
by the whole module, so the run stays well under two minutes once warm.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from catalog_helpers import explain, run_mlenv

from mlenv.index import RecipeIndex
from mlenv.lock import load_lock
from mlenv.paths import builtin_recipes_dir
from mlenv.requirement import parse_requirement

pytestmark = pytest.mark.network

EXAMPLES = sorted((builtin_recipes_dir() / "examples").glob("*.yaml"))
FRAMEWORKS = ("onnxruntime", "torch", "tflite", "openvino", "tvm")
CUDA_TARGETS = ("linux-x86_64-cuda12", "linux-x86_64-cuda13")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalog-home")


def supported_targets(index: RecipeIndex, requires: list[str]) -> list[str]:
    """The built-in targets on which every requested recipe's `supports` holds."""
    out = []
    for name, (target, _label) in sorted(index.targets.items()):
        facts = target.facts()
        ok = True
        for text in requires:
            recipe = index.recipes[parse_requirement(text).name].recipe
            if recipe.supports and not recipe.supports.holds(
                variants={}, version=None, facts=facts
            ):
                ok = False
        if ok:
            out.append(name)
    return out


def resolve(project: Path, home: Path, manifest: str, targets: list[str]) -> dict:
    project.mkdir(parents=True, exist_ok=True)
    (project / "mlenv.yaml").write_text(manifest, encoding="utf-8")
    args = [a for t in targets for a in ("--target", t)]
    result = run_mlenv(project, home, "resolve", *args)
    assert result.returncode == 0, explain(result)
    lock = load_lock(project / "mlenv.lock")
    assert sorted(lock.targets) == sorted(targets)
    return dict(lock.targets)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_resolves_for_every_supported_target(
    example: Path, builtin_index: RecipeIndex, home: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(example.read_text())
    targets = supported_targets(builtin_index, [*data["requires"], "mlperf-loadgen"])
    assert {"linux-x86_64-cpu", "linux-aarch64-cpu", "macos-arm64"} <= set(targets)
    sections = resolve(tmp_path / example.stem, home, example.read_text(), targets)
    for name, section in sections.items():
        assert data["benchmark"]["model"] in section.packages, name
        assert "mlperf-loadgen" in section.packages, name
        pypi = {p.name for p in section.pypi}
        assert "mlcommons-loadgen" in pypi, name
        assert section.artifacts, name  # the model and the data are pinned, not downloaded
        loadgen = next(p for p in section.pypi if p.name == "mlcommons-loadgen")
        if section.facts["arch"] == "aarch64":  # no wheel: the sdist, built with the compiler
            assert loadgen.url.endswith(".tar.gz") and "gcc" in section.packages, name
        else:
            assert loadgen.url.endswith(".whl"), name


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_resolves_alone_for_every_supported_target(
    framework: str, builtin_index: RecipeIndex, home: Path, tmp_path: Path
) -> None:
    targets = supported_targets(builtin_index, [framework])
    assert "linux-x86_64-cpu" in targets
    sections = resolve(
        tmp_path / framework, home, f"name: {framework}\nrequires: [{framework}]\n", targets
    )
    recipe = builtin_index.recipes[framework].recipe
    wheel = next(e.source for e in recipe.install).requirements[0].split("==")[0]  # type: ignore[union-attr]
    for name, section in sections.items():
        assert section.packages[framework].version == str(recipe.versions[0].version), name
        assert wheel in {p.name for p in section.pypi}, name


def test_cuda_builds_follow_the_target_driver(home: Path, tmp_path: Path) -> None:
    manifest = "name: cuda\nrequires: ['onnxruntime[device=cuda]', 'torch[device=cuda]']\n"
    sections = resolve(tmp_path / "cuda", home, manifest, list(CUDA_TARGETS))
    for section in sections.values():
        assert section.packages["onnxruntime"].variants == (("device", "cuda"),)
        assert "onnxruntime-gpu" in {p.name for p in section.pypi}
        assert "cuda-driver" in section.packages
    # torch 2.11 is a CUDA 13 build: a CUDA 12.4 driver gets the newest CUDA 12 build instead
    assert sections["linux-x86_64-cuda12"].packages["torch"].version == "2.10.0"
    assert sections["linux-x86_64-cuda13"].packages["torch"].version == "2.11.0"


def test_build_tools_resolve(home: Path, tmp_path: Path) -> None:
    manifest = "name: tools\nrequires: [cmake, ninja, 'mlperf-loadgen[build=source]']\n"
    linux = ["linux-aarch64-cpu", "linux-x86_64-cpu"]
    for section in resolve(tmp_path / "tools", home, manifest, linux).values():
        assert {"cmake", "ninja", "gcc"} <= set(section.packages)
        assert {"cmake", "ninja", "mlcommons-loadgen"} <= {p.name for p in section.pypi}
