"""mlenv.ops.add / modelfile / datafile, called as the API does (no resolve: no network)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlenv.errors import UsageError
from mlenv.ops import add as op
from mlenv.ops.datafile import inspect_dataset
from mlenv.ops.modelfile import inspect_model
from mlenv.ops.project import Project


def _onnx(path: Path, shape: list[int | str], out: list[int | str]) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out)],
        [w],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.yaml").write_text("name: p  # mine\nrequires:\n  - numpy\n", encoding="utf-8")
    return Project(manifest_path=root / "mlenv.yaml", environ={"MLENV_HOME": str(tmp_path / "h")})


def test_onnx_inspection(tmp_path: Path) -> None:
    model = inspect_model(_onnx(tmp_path / "m.onnx", ["batch", 3, 8, 8], ["batch", 5]))
    assert model.format == "onnx" and model.opset == 13 and model.backend == "onnxruntime"
    assert [t.name for t in model.inputs] == ["input"]  # the initializer `w` is no input
    assert model.inputs[0].shape == (-1, 3, 8, 8) and model.outputs[0].shape == (-1, 5)


def test_torchscript_and_tflite_are_recognised(tmp_path: Path) -> None:
    ts = tmp_path / "m.pt"
    with zipfile.ZipFile(ts, "w") as zf:
        zf.writestr("m/data.pkl", b"never unpickled")
        zf.writestr("m/constants.pkl", b"")
    assert inspect_model(ts).format == "torchscript" and not inspect_model(ts).tensors_known
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(32))
    assert inspect_model(tfl).format == "tflite"
    other = tmp_path / "x.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", b"hi")
    with pytest.raises(UsageError, match="not a TorchScript model"):
        inspect_model(other)


def test_add_model_writes_the_recipe_and_wires_the_manifest(
    project: Project, tmp_path: Path
) -> None:
    path = _onnx(tmp_path / "Net_v2.onnx", ["N", 4], ["N", 10])
    result = op.add_model(project, path, resolve=False)
    assert result.recipe_name == "net_v2" and not result.resolved
    text = project.manifest_path.read_text()
    assert text == (
        "name: p  # mine\nrecipes: [./recipes]\nrequires:\n  - numpy\n  - net_v2\n  - onnxruntime\n"
    )
    recipe_text = (project.project_dir / "recipes/models/net_v2.yaml").read_text()
    assert "guessed from the output shape [-1, 10]; change it if wrong" in recipe_text
    recipe = yaml.safe_load(recipe_text)
    assert recipe["install"][0]["artifact"]["url"] == "../../../Net_v2.onnx"
    # the same file again: the same recipe, nothing changes; another file: refused
    again = op.add_model(project, path, resolve=False)
    assert not again.added
    other = _onnx(tmp_path / "other.onnx", ["N", 4], ["N", 3])
    with pytest.raises(UsageError, match="already exists and differs"):
        op.add_model(project, other, name="net_v2", resolve=False)
    op.add_model(project, other, name="net_v2", force=True, resolve=False)


def test_add_dataset_starts_the_benchmark(project: Project, tmp_path: Path) -> None:
    op.add_model(project, _onnx(tmp_path / "m.onnx", ["N", 4], ["N", 10]), resolve=False)
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((3, 4), np.float32), y=np.arange(3))
    fresh = Project(manifest_path=project.manifest_path, environ=project.environ)
    result = op.add_dataset(fresh, data, resolve=False)
    assert "benchmark:" in result.added and "  dataset: d" in result.added
    recipe = yaml.safe_load((project.project_dir / "recipes/datasets/d.yaml").read_text())
    assert recipe["samples"] == 3 and recipe["performance-sample-count"] == 3
    assert recipe["preprocess"] == {"name": "npz", "x": "x", "y": "y", "dtype": "float32"}
    manifest = yaml.safe_load(project.manifest_path.read_text())
    assert manifest["benchmark"] == {"model": "m", "dataset": "d", "backend": "onnxruntime"}


def test_csv_and_npz_inspection(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,0\n3,4,1\n\n5,6,1\n", encoding="utf-8")
    facts = inspect_dataset(table, label=None, size=None, model=None)
    assert facts.samples == 3 and facts.preprocess == "{name: csv, label: label, header: auto}"
    plain = tmp_path / "p.csv"
    plain.write_text("1,2,0\n3,4,1\n", encoding="utf-8")
    facts = inspect_dataset(plain, label="0", size=None, model=None)
    assert facts.samples == 2 and "label: 0" in facts.preprocess
    with pytest.raises(UsageError, match="no column 'nope'"):
        inspect_dataset(table, label="nope", size=None, model=None)
    bad = tmp_path / "b.npz"
    np.savez(bad, x=np.zeros((3, 4)), labels=np.arange(3))
    with pytest.raises(UsageError, match="no array y"):
        inspect_dataset(bad, label=None, size=None, model=None)
    objects = tmp_path / "o.npz"
    np.savez(objects, x=np.zeros((2, 1)), y=np.array([{}, {}], dtype=object))
    with pytest.raises(UsageError, match="Python objects"):
        inspect_dataset(objects, label=None, size=None, model=None)


def test_remove_unknown_lists_what_is_there(project: Project) -> None:
    with pytest.raises(UsageError) as info:
        op.remove_requirements(project, ["torch"], resolve=False)
    assert info.value.why == "requires: lists numpy"


def test_add_an_image_folder_writes_a_local_path_source(project: Project, tmp_path: Path) -> None:
    from mlenv.envs.archives import tree_digest

    op.add_model(project, _onnx(tmp_path / "m.onnx", ["N", 3, 8, 8], ["N", 2]), resolve=False)
    images = tmp_path / "my images"
    for label in ("cat", "dog"):
        (images / label).mkdir(parents=True)
        for i in range(2):
            (images / label / f"{i}.png").write_bytes(b"not decoded at add time")
    (images / ".hidden").mkdir()  # skipped, as the harness skips it
    (images / "cat" / ".x.png").write_bytes(b"")
    fresh = Project(manifest_path=project.manifest_path, environ=project.environ)
    op.add_dataset(fresh, images, resolve=False)
    recipe = yaml.safe_load((project.project_dir / "recipes/datasets/my-images.yaml").read_text())
    assert recipe["samples"] == 4 and recipe["requires"] == ["pillow"]
    pre = recipe["preprocess"]
    assert pre["name"] == "image-folder" and pre["size"] == [8, 8] and pre["layout"] == "NCHW"
    assert pre["mean"] == [123.675, 116.28, 103.53]  # on 0..255 pixels, as the harness scales
    [entry] = recipe["install"]
    local = entry["local"]
    assert local["tree-sha256"] == tree_digest(images)
    assert (project.project_dir / "recipes/datasets" / local["path"]).resolve() == images


def test_a_local_source_names_env_or_path() -> None:
    from mlenv.sources import LocalSource, parse_install_entry
    from mlenv.yamlio import Problems

    sha = "ab" * 32
    ok = Problems("r.yaml")
    entry = parse_install_entry({"local": {"path": "../x", "tree-sha256": sha}}, "i", ok, {})
    assert entry is not None and entry.source == LocalSource(path="../x", tree_sha256=sha)
    assert not ok.items
    for body, says in (
        ({"env": "X", "path": "x", "tree-sha256": sha}, "exactly one of env or path"),
        ({}, "exactly one of env or path"),
        ({"path": "x"}, "needs its tree-sha256"),
        ({"path": "/abs", "tree-sha256": sha}, "not a folder relative"),
    ):
        problems = Problems("r.yaml")
        parse_install_entry({"local": body}, "i", problems, {})
        assert any(says in message for _, message in problems.items), (body, problems.items)
