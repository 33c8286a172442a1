"""`mlenv recipes checksum NAME` against a 127.0.0.1 upstream: the md5 is checked, the sha256 is
written into the recipe with a minimal edit (comments and layout survive), a bad md5 changes
nothing and exits 1."""

from __future__ import annotations

import json
from pathlib import Path

from catalog_helpers import Upstream, explain, md5, run_mlenv, sha256

WEIGHTS = b"stand-in model weights\n" * 300
EXTRA = b"stand-in extra file\n" * 40

RECIPE = """\
# A stand-in for a model whose upstream publishes only an MD5.
name: standin-model
kind: model
summary: stand-in model   # a comment on a value
versions: ["1.0"]
task: image-classification
format: onnx
install:
  # block style; source: the stand-in's own listing
  - artifact:
      url: "https://upstream.example/models/standin.onnx"   # upstream URL
      md5: {md5_weights}   # the published MD5
      size: {size}
  # flow style
  - artifact: {{url: "https://upstream.example/models/extra.bin", md5: {md5_extra}}}  # trailing
"""


def write_project(root: Path, md5_weights: str) -> Path:
    (root / "recipes" / "models").mkdir(parents=True)
    (root / "mlenv.yaml").write_text("name: p\nrecipes: [./recipes]\nrequires: [standin-model]\n")
    recipe = root / "recipes" / "models" / "standin-model.yaml"
    recipe.write_text(
        RECIPE.format(md5_weights=md5_weights, md5_extra=md5(EXTRA), size=len(WEIGHTS))
    )
    return recipe


def serve(upstream: Upstream) -> None:
    upstream.add("models/standin.onnx", WEIGHTS)
    upstream.add("models/extra.bin", EXTRA)


def test_checksum_writes_the_sha256_and_keeps_the_rest(tmp_path: Path, upstream: Upstream) -> None:
    serve(upstream)
    recipe = write_project(tmp_path, md5(WEIGHTS))
    before = recipe.read_text()
    mirror = {"MLENV_MIRROR": upstream.mirror}
    result = run_mlenv(
        tmp_path, tmp_path / "home", "--json", "recipes", "checksum", "standin-model", env=mirror
    )
    assert result.returncode == 0, explain(result)
    doc = json.loads(result.stdout)["data"]
    assert doc["recipe"] == "standin-model"
    assert [a["sha256"] for a in doc["artifacts"]] == [sha256(WEIGHTS), sha256(EXTRA)]
    after = recipe.read_text()
    expected = before.replace(
        f"      md5: {md5(WEIGHTS)}",
        f"      sha256: {sha256(WEIGHTS)}\n      md5: {md5(WEIGHTS)}",
    ).replace(f"md5: {md5(EXTRA)}}}", f"sha256: {sha256(EXTRA)}, md5: {md5(EXTRA)}}}")
    assert after == expected  # only the two insertions: every comment and line kept
    assert sorted(upstream.requests) == ["models/extra.bin", "models/standin.onnx"]
    lint = run_mlenv(tmp_path, tmp_path / "home", "recipes", "lint", str(recipe))
    assert lint.returncode == 0, explain(lint)
    assert "only an md5" not in lint.stderr
    # nothing left to do: a second run downloads nothing and changes nothing
    again = run_mlenv(
        tmp_path, tmp_path / "home", "recipes", "checksum", "standin-model", env=mirror
    )
    assert again.returncode == 0, explain(again)
    assert "already has its sha256" in again.stderr
    assert recipe.read_text() == after and len(upstream.requests) == 2


def test_checksum_refuses_a_wrong_md5(tmp_path: Path, upstream: Upstream) -> None:
    serve(upstream)
    recipe = write_project(tmp_path, md5(b"some other bytes"))
    before = recipe.read_text()
    result = run_mlenv(
        tmp_path,
        tmp_path / "home",
        "recipes",
        "checksum",
        "standin-model",
        env={"MLENV_MIRROR": upstream.mirror},
    )
    assert result.returncode == 1, explain(result)
    assert "md5 mismatch" in result.stderr and "Traceback" not in result.stderr
    assert recipe.read_text() == before


def test_checksum_of_an_unknown_recipe(tmp_path: Path) -> None:
    (tmp_path / "mlenv.yaml").write_text("name: p\nrequires: [onnxruntime]\n")
    result = run_mlenv(tmp_path, tmp_path / "home", "recipes", "checksum", "no-such-recipe")
    assert result.returncode == 1, explain(result)
    assert "no recipe named" in result.stderr
