"""Issue 15's "done when": a new user brings their own model and data, through the documented
commands only (`python -m mlenv …` in the project folder): `init`, `add model`, `add dataset`,
`run` (a result with accuracy); then retrains (new weights in the same file), sees the clear
refusal (exit 1, both hashes, the fix), runs `recipes checksum --update NAME`, and runs again.
The same with a folder of JPEGs and a `val_map.txt`.

The model sits in a sibling folder of the project, with a space in its name: the lock names it
`../…` and is read back by the next command (`run --frozen` works; no "ignoring the unreadable
existing lock").

Offline variants use the `null` backend (and LoadGen, numpy, Pillow of the test's own Python,
through the `hostsite` wheel); the onnxruntime ones need PyPI (`network`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import localpypi as H
import numpy as np
import pytest
import yaml
from nullrun import FAST
from runproject import nullrun_project

FEATURES, CLASSES, SAMPLES = 16, 4, 24
SIDE = 8  # the images' height and width
UNREADABLE = "ignoring the unreadable existing lock"


def classifier(path: Path, inputs: list[Any], weights: np.ndarray, flatten: bool = False) -> Path:
    """A one-MatMul ONNX classifier (onnx.helper): input -> [N, CLASSES] logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["flat" if flatten else "input", "w"], ["logits"])]
    if flatten:
        nodes.insert(0, helper.make_node("Flatten", ["input"], ["flat"], axis=1))
    graph = helper.make_graph(
        nodes,
        "byo",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, inputs)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by older onnxruntime releases too
    onnx.save(model, str(path))
    return path


def table_data(folder: Path) -> tuple[Path, np.ndarray]:
    """`data.npz` whose label is the argmax of x's first CLASSES features, and the weights of
    a model that gets every sample right."""
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, FEATURES), dtype=np.float32)
    y = np.argmax(x[:, :CLASSES], axis=1).astype(np.int64)
    np.savez(folder / "data.npz", x=x, y=y)
    right = np.zeros((FEATURES, CLASSES), dtype=np.float32)
    right[:CLASSES, :CLASSES] = np.eye(CLASSES)
    return folder / "data.npz", right


def image_folder(folder: Path) -> Path:
    """A few JPEGs and a `val_map.txt` (label i: the image is mostly channel i % 3)."""
    from PIL import Image

    folder.mkdir(parents=True)
    lines = []
    for i in range(6):
        pixels = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
        pixels[..., i % 3] = 200
        Image.fromarray(pixels).save(folder / f"img_{i}.jpg", quality=95)
        lines.append(f"img_{i}.jpg {i % 3}")
    (folder / "val_map.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def mlenv(p: H.Project, *args: str, timeout: float = 300) -> H.Result:
    return H.run_mlenv(p, *args, timeout=timeout)


def ok(result: H.Result) -> H.Result:
    assert result.returncode == 0, str(result)
    assert UNREADABLE not in result.err, str(result)
    return result


def accuracy(result: H.Result) -> float:
    docs = json.loads(result.stdout)["data"]
    found = {float(d["accuracy"]["top1"]) for d in docs if d["mode"] == "accuracy"}
    assert len(found) == 1, docs  # every scenario's accuracy run answers alike
    return found.pop()


def retrain(p: H.Project, model: Path, write: Any, name: str) -> None:
    """New weights in the same file: the refusal names both hashes and the fix; after the fix,
    the run goes on."""
    old = H.sha256(model.read_bytes())
    write()
    new = H.sha256(model.read_bytes())
    refused = mlenv(p, "run", "--allow-invalid", *FAST)
    H.assert_user_error(refused, old, new, f"mlenv recipes checksum --update {name}")
    ok(mlenv(p, "recipes", "checksum", "--update", name))
    recipe = yaml.safe_load((p.root / "recipes" / "models" / f"{name}.yaml").read_text())
    assert recipe["install"][0]["artifact"]["sha256"] == new


# -- offline: the `null` backend -----------------------------------------------------------------


def _offline_start(p: H.Project, pillow: bool = False) -> None:
    """What `mlenv init` writes, with the offline `null` framework for onnxruntime (whose wheel
    the offline index lacks), and Pillow from the test's own Python."""
    p.manifest.write_text(
        '# my benchmark\nname: mine\ntargets: [host]\nrequires:\n  - "null"  # offline\n',
        encoding="utf-8",
    )
    if pillow:
        p.write(
            "recipes/tools/pillow.yaml",
            """
            name: pillow
            kind: tool
            summary: Pillow of the test's own Python (through hostsite)
            versions: ["13.0.0"]
            install:
              - pypi: ["hostsite==1.0"]
            """,
        )


@pytest.mark.usefixtures("wheels")
def test_bring_your_own_model_and_npz_offline(tmp_path: Path) -> None:
    with nullrun_project(tmp_path) as p:
        _offline_start(p)
        outside = tmp_path / "my models"
        outside.mkdir()
        data, right = table_data(tmp_path)
        model = classifier(outside / "My Model.onnx", ["N", FEATURES], right)
        ok(mlenv(p, "add", "model", str(model), "--backend", "null"))
        ok(mlenv(p, "add", "dataset", str(data)))
        lock = p.lock.read_text(encoding="utf-8")
        assert "url: ../my models/My Model.onnx" in lock, lock
        run = ok(mlenv(p, "--json", "run", "--frozen", "--allow-invalid", *FAST))
        # the null backend answers class 0: the accuracy is the share of label-0 rows
        labels = np.load(data)["y"]
        assert accuracy(run) == pytest.approx(float(np.mean(labels == 0)))
        retrain(p, model, lambda: classifier(model, ["N", FEATURES], right * 2), "my-model")
        ok(mlenv(p, "resolve"))
        ok(mlenv(p, "run", "--frozen", "--allow-invalid", *FAST))


@pytest.mark.usefixtures("wheels")
def test_bring_your_own_image_folder_offline(tmp_path: Path) -> None:
    with nullrun_project(tmp_path) as p:
        _offline_start(p, pillow=True)
        weights = np.ones((3 * SIDE * SIDE, CLASSES), dtype=np.float32)
        model = classifier(tmp_path / "net.onnx", ["N", 3, SIDE, SIDE], weights, flatten=True)
        images = image_folder(p.root / "my images")
        ok(mlenv(p, "add", "model", str(model), "--backend", "null"))
        ok(mlenv(p, "add", "dataset", str(images)))
        recipe = yaml.safe_load((p.root / "recipes/datasets/my-images.yaml").read_text())
        assert recipe["preprocess"]["name"] == "image-folder"
        assert recipe["preprocess"]["size"] == [SIDE, SIDE]
        assert recipe["preprocess"]["list"] == "val_map.txt"
        assert recipe["requires"] == ["pillow"]
        [local] = [e["local"] for e in recipe["install"]]
        assert local["path"] == "../../my images" and len(local["tree-sha256"]) == 64
        run = ok(mlenv(p, "--json", "run", "--frozen", "--allow-invalid", *FAST))
        assert accuracy(run) == pytest.approx(2 / 6)  # class 0 answered; two of six are 0
        # a changed folder is refused like a changed file, and fixed the same way
        (images / "val_map.txt").write_text(
            "img_0.jpg 0\nimg_1.jpg 0\nimg_2.jpg 0\nimg_3.jpg 0\nimg_4.jpg 1\nimg_5.jpg 2\n"
        )
        refused = mlenv(p, "run", "--allow-invalid", *FAST)
        H.assert_user_error(
            refused, local["tree-sha256"], "my images", "mlenv recipes checksum --update my-images"
        )
        ok(mlenv(p, "recipes", "checksum", "--update", "my-images"))
        recipe = yaml.safe_load((p.root / "recipes/datasets/my-images.yaml").read_text())
        assert recipe["install"][0]["local"]["tree-sha256"] != local["tree-sha256"]
        run = ok(mlenv(p, "--json", "run", "--allow-invalid", *FAST))
        assert accuracy(run) == pytest.approx(4 / 6)  # now four of the six are labelled 0


# -- with onnxruntime (needs PyPI) ---------------------------------------------------------------


@dataclass
class Online(H.Project):
    """A project that `mlenv init` starts, with PyPI itself for its wheels."""

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLENV_", "UV_"))}
        return env | {"MLENV_HOME": str(self.home), "MLENV_HOST_CUDA": "none"}


def _online(tmp_path: Path) -> H.Project:
    project = Online(root=tmp_path / "project", home=tmp_path / "home", server=None)
    project.root.mkdir()
    ok(mlenv(project, "init"))
    return project


@pytest.mark.network
def test_bring_your_own_model_and_npz(tmp_path: Path) -> None:
    p = _online(tmp_path)
    outside = tmp_path / "my models"
    outside.mkdir()
    data, right = table_data(tmp_path)
    model = classifier(outside / "My Model.onnx", ["N", FEATURES], right)
    ok(mlenv(p, "add", "model", str(model), timeout=900))
    ok(mlenv(p, "add", "dataset", str(data), timeout=900))
    run = ok(mlenv(p, "--json", "run", "--frozen", "--allow-invalid", *FAST, timeout=900))
    assert accuracy(run) == pytest.approx(1.0)
    wrong = np.roll(right, 1, axis=1)  # every answer off by one class
    retrain(p, model, lambda: classifier(model, ["N", FEATURES], wrong), "my-model")
    run = ok(mlenv(p, "--json", "run", "--allow-invalid", *FAST, timeout=900))
    assert accuracy(run) == pytest.approx(0.0)


@pytest.mark.network
def test_bring_your_own_image_folder(tmp_path: Path) -> None:
    p = _online(tmp_path)
    # logits: the mean of each channel (class i: channel i), class 3 never wins
    weights = np.zeros((3, SIDE * SIDE, CLASSES), dtype=np.float32)
    for c in range(3):
        weights[c, :, c] = 1.0
    model = classifier(
        tmp_path / "net.onnx", ["N", 3, SIDE, SIDE], weights.reshape(-1, CLASSES), flatten=True
    )
    images = image_folder(p.root / "my images")
    ok(mlenv(p, "add", "model", str(model), timeout=900))
    ok(mlenv(p, "add", "dataset", str(images), timeout=900))
    run = ok(mlenv(p, "--json", "run", "--frozen", "--allow-invalid", *FAST, timeout=900))
    assert accuracy(run) == pytest.approx(1.0)
