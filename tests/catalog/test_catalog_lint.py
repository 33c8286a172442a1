"""The built-in catalog is valid, consistent and cites its sources (offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from catalog_helpers import explain, run_mlenv

from mlenv.harness.registry import METRICS, PREPROCESSORS
from mlenv.index import RecipeIndex
from mlenv.manifest import load_manifest
from mlenv.paths import builtin_recipes_dir
from mlenv.sources import ArtifactSource, CondaSource, DetectSource, LocalSource, PypiSource

RECIPES = builtin_recipes_dir()
EXAMPLES = sorted((RECIPES / "examples").glob("*.yaml"))
HEX = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{64}\b")


def test_lint_passes_on_the_whole_index(tmp_path: Path) -> None:
    result = run_mlenv(tmp_path, tmp_path / "home", "recipes", "lint")
    assert result.returncode == 0, explain(result)
    assert "targets" in result.stderr and "examples are valid" in result.stderr


def test_lint_passes_on_every_builtin_file(tmp_path: Path) -> None:
    result = run_mlenv(tmp_path, tmp_path / "home", "recipes", "lint", str(RECIPES))
    assert result.returncode == 0, explain(result)


def test_lint_reports_a_broken_example_and_target(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "bad.yaml").write_text("name: bad\nrequires: [x]\nbenchmrk: {}\n")
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "t.yaml").write_text("name: t\nos: plan9\narch: x86_64\n")
    result = run_mlenv(tmp_path, tmp_path / "home", "recipes", "lint", str(tmp_path))
    assert result.returncode == 1, explain(result)
    assert "bad.yaml:3: benchmrk" in result.stderr
    assert "t.yaml" in result.stderr and "plan9" in result.stderr


def test_every_source_kind_is_well_formed(builtin_index: RecipeIndex) -> None:
    for name in builtin_index.names():
        recipe = builtin_index.recipes[name].recipe
        for entry in recipe.install:
            s = entry.source
            if isinstance(s, ArtifactSource):
                assert s.sha256 or s.md5, name
                assert (
                    s.url.startswith("https://") or s.url.startswith("http://") or "/" not in s.url
                )
            elif isinstance(s, PypiSource):
                assert all("==" in r or r in ("numpy", "numpy<2") for r in s.requirements), name
            elif isinstance(s, CondaSource):
                assert s.channels and s.specs, name
            elif isinstance(s, LocalSource):
                assert s.env.startswith("MLENV_"), name
            elif isinstance(s, DetectSource):
                assert s.executables and s.regex, name


def test_every_checksum_and_url_cites_its_source() -> None:
    """A recipe that pins a download (url, md5 or sha256) says where the value was published."""
    for path in sorted(RECIPES.glob("*/*.yaml")):
        if path.parent.name in ("targets", "examples") or path.name in (
            "digits.yaml",
            "digits-mlp.yaml",
        ):
            continue
        text = path.read_text(encoding="utf-8")
        body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        if "url:" in body or HEX.search(body):
            comments = "\n".join(line for line in text.splitlines() if "#" in line)
            assert re.search(r"mlcommons/|tensorflow/datasets|anaconda\.org", comments), path


def test_declarations_without_a_checksum_have_no_artifact(builtin_index: RecipeIndex) -> None:
    for name in ("mobilenet-v1", "dlrm-v2", "gpt-j", "llama2-70b"):
        recipe = builtin_index.recipes[name].recipe
        assert recipe.kind == "model" and not recipe.install, name
        assert recipe.task and recipe.reference_accuracy, name


def test_models_and_datasets_carry_harness_data(builtin_index: RecipeIndex) -> None:
    for name in builtin_index.names():
        recipe = builtin_index.recipes[name].recipe
        if recipe.kind == "model":
            assert recipe.task, name
        if recipe.kind == "dataset":
            assert recipe.task and recipe.samples and recipe.performance_sample_count, name
            # the names the harness knows (its registry is the truth)
            assert recipe.metric in METRICS, name
            assert recipe.preprocess_map.get("name") in PREPROCESSORS, name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_name_recipes_of_the_right_kinds(
    example: Path, builtin_index: RecipeIndex
) -> None:
    manifest = load_manifest(example)
    names = {r.name for r in manifest.requires}
    for req in manifest.requires:
        assert builtin_index.get(req.name) is not None, (example.name, req.name)
    b = manifest.benchmark
    assert b is not None
    kinds = {n: builtin_index.recipes[n].recipe.kind for n in names}
    assert kinds[b.model] == "model" and kinds[b.dataset] == "dataset"
    assert kinds[b.backend] == "framework"
    model = builtin_index.recipes[b.model].recipe
    dataset = builtin_index.recipes[b.dataset].recipe
    assert model.task == dataset.task, example.name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_init_writes_each_example(example: Path, tmp_path: Path) -> None:
    result = run_mlenv(tmp_path, tmp_path / "home", "init", "proj", "--example", example.stem)
    assert result.returncode == 0, explain(result)
    assert (tmp_path / "proj" / "mlenv.yaml").read_bytes() == example.read_bytes()


def test_init_lists_the_examples(tmp_path: Path) -> None:
    result = run_mlenv(tmp_path, tmp_path / "home", "--json", "init", "--list-examples")
    assert result.returncode == 0, explain(result)
    examples = json.loads(result.stdout)["data"]["examples"]
    assert {"resnet50-onnxruntime", "digits"} <= set(examples)
    unknown = run_mlenv(tmp_path, tmp_path / "home", "init", "--example", "nope")
    assert unknown.returncode == 2 or unknown.returncode == 1, explain(unknown)
    assert "resnet50-onnxruntime" in unknown.stderr


def test_catalog_table_lists_every_recipe(builtin_index: RecipeIndex) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "tools" / "catalog_table.py"
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("| component | kind | versions | variants | targets |")
    assert len(lines) == 2 + len(builtin_index.names())
    for name in builtin_index.names():
        assert f"| `{name}` |" in out
    assert "| `onnxruntime` | framework | 1.23.2" in out


def test_catalog_preprocess_params_are_accepted_by_the_harness(builtin_index: RecipeIndex) -> None:
    """Every built-in dataset's preprocess parameters pass the harness's own parameter check."""
    from mlenv.harness.data import coco, images, squad
    from mlenv.harness.data.dataset import read_params

    schemas = {
        "image-classification": images.CLASSIFICATION_PARAMS,
        "object-detection": coco.PARAMS,
        "question-answering": squad.PARAMS,
    }
    checked = 0
    for name in builtin_index.names():
        recipe = builtin_index.recipes[name].recipe
        params = dict(recipe.preprocess_map)
        schema = schemas.get(str(params.pop("name", "")))
        if recipe.kind == "dataset" and schema is not None:
            read_params(params, schema, name=name)  # raises on an unknown or bad parameter
            checked += 1
    assert checked >= 5
