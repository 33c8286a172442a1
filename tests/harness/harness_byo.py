"""Tiny bring-your-own data sets and the classifiers that fit them (no downloads).

- tables (npz, csv): sample i is class i % 3 for the model (its feature i % 3 is the largest of
  features 0..2), every 4th label disagrees: top1 is 0.75 on 20 rows, 4/6 on the first 6;
- image folders: class c's images are brightest in RGB channel c (the channel-mean model of
  harness_tasks.py); in each class folder the first image (sorted) is of another class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from harness_testing import WRONG_EVERY
from onnx import TensorProto, helper, numpy_helper

ROWS = 20
FEATURES = 4
CLASSES = 3
FOLDER_CLASSES = ("cat", "dog", "owl")  # sorted: label = channel
PER_CLASS = 4
# the file names of a class folder, sorted: i0 is the mislabelled one
FOLDER_FILES = ("i0.PNG", "i1.jpg", "i2.JPEG", "i3.png")


def table(rows: int = ROWS) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(11)
    x = rng.random((rows, FEATURES)).astype(np.float32)
    classes = np.arange(rows) % CLASSES
    x[np.arange(rows), classes] += 2.0
    y = classes.copy()
    y[::WRONG_EVERY] = (y[::WRONG_EVERY] + 1) % CLASSES
    return x, y.astype(np.int64)


def top1_of_first(rows: int) -> float:
    wrong = len(range(0, rows, WRONG_EVERY))
    return (rows - wrong) / rows


def make_npz(path: Path, rows: int = ROWS, **arrays: Any) -> Path:
    x, y = table(rows)
    np.savez(path, **({"x": x, "y": y} | arrays))
    return path


def make_csv(path: Path, rows: int = ROWS) -> Path:
    """Header f0,label,f1,f2,f3: the label is the second column."""
    x, y = table(rows)
    lines = ["f0,label,f1,f2,f3"]
    for features, label in zip(x, y, strict=True):
        cells = [f"{features[0]:.6f}", str(label), *(f"{v:.6f}" for v in features[1:])]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_table_model(path: Path) -> Path:
    """logits [N, 3] = features 0..2 of [N, 4]."""
    weights = np.zeros((FEATURES, CLASSES), dtype=np.float32)
    weights[np.arange(CLASSES), np.arange(CLASSES)] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"])],
        "first_three",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[numpy_helper.from_array(weights, name="w")],
    )
    return _save(graph, path)


def make_flat_model(path: Path) -> Path:
    """A model whose first output is [N] (one number per sample): top1 cannot score it."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0)],
        "flat",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        outputs=[helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"])],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), name="axes")],
    )
    return _save(graph, path)


def _save(graph: Any, path: Path) -> Path:
    model = helper.make_model(
        graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests"
    )
    path.write_bytes(model.SerializeToString())
    return path


def colored(channel: int, height: int, width: int, seed: int) -> np.ndarray[Any, Any]:
    pixels = np.random.default_rng(seed).integers(0, 60, size=(height, width, 3)).astype(np.uint8)
    pixels[..., channel] += 150
    return pixels


def make_class_folders(root: Path) -> Path:
    """root/<class>/i0..i3 (mixed extensions and sizes), plus files that are not samples."""
    from PIL import Image

    for label, name in enumerate(FOLDER_CLASSES):
        folder = root / name
        folder.mkdir(parents=True)
        for i, file in enumerate(FOLDER_FILES):
            channel = (label + 1) % CLASSES if i == 0 else label
            pixels = colored(channel, 20 + 4 * i, 28 + 2 * label, seed=10 * label + i)
            Image.fromarray(pixels).save(folder / file, format=_format(file))
        (folder / "notes.txt").write_text("not an image\n")
        (folder / ".hidden.png").write_bytes(b"not an image either")
    (root / ".cache").mkdir()  # a hidden folder is not a class
    return root


def _format(file: str) -> str:
    suffix = file.rsplit(".", 1)[1].lower()
    return {"jpg": "JPEG", "jpeg": "JPEG"}.get(suffix, suffix.upper())
