"""Bring-your-own data: the npz, csv and image-folder preprocessors, end to end and part by part.

Each format runs the real harness (onnxruntime, LoadGen, accuracy mode) on a tiny classifier
built here, with exact top1 figures, also on a subset (``samples``: the first N); every kind
of bad input is one HarnessError that says what, where and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_byo import (
    CLASSES,
    FEATURES,
    PER_CLASS,
    ROWS,
    make_class_folders,
    make_csv,
    make_flat_model,
    make_npz,
    make_table_model,
    table,
    top1_of_first,
)
from harness_tasks import IMAGES, make_channel_mean_model, make_images
from harness_testing import RunHarness
from mlenv_harness import registry
from mlenv_harness.data.dataset import in_memory
from mlenv_harness.errors import HarnessError, TooFewSamples

NORMALIZE = {"mean": [128, 128, 128], "std": [64, 64, 64]}


def _table_config(config: dict[str, Any], data: Path, model: Path, preprocess: dict[str, Any]):
    config["mode"] = "accuracy"
    config["model"] = {
        "path": str(model),
        "format": "onnx",
        "inputs": [{"name": "x", "shape": [-1, FEATURES], "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": [-1, CLASSES], "dtype": "float32"}],
    }
    name = preprocess.pop("name")
    config["data"] = {
        "path": str(data),
        "samples": ROWS,
        "performance_sample_count": ROWS,
        "preprocess": {"name": name, "params": preprocess},
        "metric": "top1",
    }
    config["backend"]["max_batch"] = 8


@pytest.mark.parametrize("subset", [None, 6])
@pytest.mark.parametrize("kind", ["npz", "csv"])
def test_table_runs(
    run_harness: RunHarness,
    base_config: dict[str, Any],
    tmp_path: Path,
    kind: str,
    subset: int | None,
) -> None:
    if kind == "npz":
        data = make_npz(tmp_path / "data.npz")
        preprocess = {"name": "npz", "x": "x", "y": "y", "dtype": "float32"}
    else:
        data = make_csv(tmp_path / "data.csv")
        preprocess = {"name": "csv", "label": "label", "header": "auto", "dtype": "float32"}
    _table_config(base_config, data, make_table_model(tmp_path / "m.onnx"), preprocess)
    if subset:
        base_config["samples"] = subset
    base_config["cache_dir"] = str(tmp_path / "cache")  # filled through memory-mapped arrays
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["accuracy"] == {"top1": pytest.approx(top1_of_first(subset or ROWS))}
    assert "preprocessed" in run.stderr and "into the cache" in run.stderr


def test_image_folder_run(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    """Class subfolders; the first 6 samples are images 0 and 1 of each class (3 wrong)."""
    pytest.importorskip("PIL")
    root = make_class_folders(tmp_path / "pets")
    model = make_channel_mean_model(tmp_path / "mean.onnx", layout="NHWC")
    _image_config(base_config, root, model, {"layout": "NHWC"}, samples=3 * PER_CLASS)
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["accuracy"] == {"top1": 0.75}
    base_config["samples"] = 6
    base_config["output_dir"] += "_subset"
    base_config["cache_dir"] = str(tmp_path / "cache")
    for _ in range(2):  # made, then read back from the cache
        run = run_harness(base_config)
        assert run.returncode == 0, run.stderr
        assert run.result()["accuracy"] == {"top1": 0.5}
        base_config["output_dir"] += "_again"
    assert "preprocessed samples from the cache" in run.stderr


def test_image_folder_list_run(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    """An ImageNet-style folder (val_map.txt) through image-folder, resized straight to 16."""
    pytest.importorskip("PIL")
    root = make_images(tmp_path / "imagenet")
    model = make_channel_mean_model(tmp_path / "mean.onnx")
    _image_config(base_config, root, model, {"list": "val_map.txt"}, samples=IMAGES)
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["accuracy"] == {"top1": 0.75}


def _image_config(
    config: dict[str, Any], root: Path, model: Path, params: dict[str, Any], *, samples: int
) -> None:
    layout = params.get("layout", "NCHW")
    config["mode"] = "accuracy"
    config["model"] = {
        "path": str(model),
        "format": "onnx",
        "inputs": [
            {
                "name": "image",
                "shape": [-1, 3, 16, 16] if layout == "NCHW" else [-1, 16, 16, 3],
                "dtype": "float32",
            }
        ],
        "outputs": [{"name": "logits", "shape": [-1, 3], "dtype": "float32"}],
    }
    config["data"] = {
        "path": str(root),
        "samples": samples,
        "performance_sample_count": samples,
        "preprocess": {"name": "image-folder", "params": {"size": 16, **NORMALIZE, **params}},
        "metric": "top1",
    }
    config["backend"]["max_batch"] = 4


def test_top1_needs_scores_per_class(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    data = make_npz(tmp_path / "data.npz")
    _table_config(base_config, data, make_flat_model(tmp_path / "flat.onnx"), {"name": "npz"})
    base_config["model"]["outputs"] = [{"name": "total", "shape": [-1], "dtype": "float32"}]
    run = run_harness(base_config)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    # the warm-up batch meets it, before LoadGen starts
    assert "failed on a batch of 8 samples: top1 scores the model's first output as " in (
        run.error_line()
    )
    assert "[N, classes], it is shaped [8]" in run.error_line()
    top1 = registry.metric("top1")
    assert top1.responses([np.array([[[0.1, 0.9, 0.0]]])]).tolist() == [1]  # [N, 1, classes]


def test_registered() -> None:
    for name in ("npz", "csv", "image-folder"):
        assert callable(registry.preprocessor(name))


# npz ------------------------------------------------------------------------------------------


def _npz(path: Path, params: dict[str, Any] | None = None, samples: int = ROWS) -> Any:
    return registry.preprocessor("npz")(path, params or {}, samples, in_memory)


def test_npz_parts(tmp_path: Path) -> None:
    x, y = table()
    folder = tmp_path / "folder"
    folder.mkdir()
    make_npz(folder / "mine.npz")
    data = _npz(folder, samples=5)  # a folder holding one .npz
    (features,) = data.features
    assert features.dtype == np.float32 and features.shape == (5, FEATURES)
    assert np.array_equal(features, x[:5]) and data.labels.tolist() == y[:5].tolist()
    pixels = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 2, 3)
    path = make_npz(tmp_path / "p.npz", images=pixels, classes=np.array([1.0, 0.0]))
    data = _npz(path, {"x": "images", "y": "classes", "dtype": "uint8"}, samples=2)
    assert data.features[0].dtype == np.uint8 and data.features[0].shape == (2, 2, 3)
    assert data.labels.dtype == np.int64 and data.labels.tolist() == [1, 0]
    with pytest.raises(TooFewSamples, match="has 20 samples, 21 samples are needed"):
        _npz(path, samples=21)


@pytest.mark.parametrize(
    ("arrays", "params", "message"),
    [
        ({}, {"x": "inputs"}, r"no array 'inputs'; it holds 'x', 'y'$"),
        ({"x": np.zeros(ROWS)}, {}, r"array 'x' is float64 \[20\]; inputs must be numbers"),
        ({"y": np.zeros(ROWS - 1)}, {}, r"labels must be 1-D, one per sample \(20\)"),
        ({"y": np.zeros((ROWS, 2))}, {}, r"array 'y' is \[20, 2\]"),
        ({"y": np.full(ROWS, 0.5)}, {}, "labels hold fractions or NaN"),
        ({"y": np.full(ROWS, -1)}, {}, "labels include -1; class indices start at 0"),
        ({"y": np.array(["a"] * ROWS)}, {}, "labels are <U1, not numbers"),
        ({}, {"dtype": "int32"}, "inputs hold fractions or NaN/inf, which int32 cannot hold"),
        ({"x": np.full((ROWS, 2), 300.0)}, {"dtype": "uint8"}, "outside uint8's 0..255"),
        ({}, {"dtype": "float64"}, "dtype must be one of float32, float16, uint8, int64, int32"),
        ({}, {"scale": 2}, "unknown parameter"),
    ],
)
def test_npz_errors(tmp_path: Path, arrays: dict[str, Any], params: dict[str, Any], message: str):
    path = make_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(HarnessError, match=message) as e:
        _npz(path, params)
    assert e.value.hint


def test_npz_untrusted_files(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.array([{"a": 1}] * ROWS, dtype=object), y=np.zeros(ROWS))
    with pytest.raises(HarnessError, match=r"cannot read it as an \.npz archive without pickle"):
        _npz(pickled)
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HarnessError, match=r"cannot read it as an \.npz archive"):
        _npz(tmp_path / "garbage.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(HarnessError, match=r"is a single \.npy array, not an \.npz archive"):
        _npz(tmp_path / "single.npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match=r"no \.npz files in .*empty$") as e:
        _npz(tmp_path / "empty")
    assert e.value.hint == "point the dataset recipe at the .npz file itself"


# csv ------------------------------------------------------------------------------------------


def _csv(path: Path, params: dict[str, Any] | None = None, samples: int = 2) -> Any:
    return registry.preprocessor("csv")(path, params or {}, samples, in_memory)


def _write(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_csv_parts(tmp_path: Path) -> None:
    no_header = _write(tmp_path, "1,2,0\n\n3,4,1\n")
    data = _csv(no_header)  # header auto: the first row is numbers; label: the last column
    assert data.features[0].tolist() == [[1, 2], [3, 4]] and data.labels.tolist() == [0, 1]
    named = _write(tmp_path, "\ufeffa,b,c\n1,2,0\n3,4,1\n", "named.csv")  # Excel's BOM
    data = _csv(named, {"label": 0, "dtype": "int64", "header": True})
    assert data.features[0].dtype == np.int64 and data.features[0].tolist() == [[2, 0], [4, 1]]
    assert data.labels.tolist() == [1, 3]
    assert _csv(named, {"label": "b"}).labels.tolist() == [2, 4]
    semicolons = _write(tmp_path, "x;y\n1.5;2\n2.5;0\n", "semi.csv")
    data = _csv(semicolons, {"delimiter": ";"})
    assert data.features[0].tolist() == [[1.5], [2.5]] and data.labels.tolist() == [2, 0]
    # bounded: only the rows the run needs are read (the bad row after them is never parsed)
    bounded = _write(tmp_path, "1,0\n2,1\noops,1\n", "bounded.csv")
    assert _csv(bounded).labels.tolist() == [0, 1]
    with pytest.raises(TooFewSamples, match="has 2 rows, 5 samples are needed"):
        _csv(no_header, samples=5)


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ("a,b\n1,2\n3,x\n", {}, r"t.csv, line 3, column 'b' \(index 1\): 'x' is not a number"),
        ("1,2\n3,\n", {}, r"line 2, column index 1: '' is not a number$"),
        ("a,b\n1,2\n", {"header": False}, r"line 1, column index 0: 'a' is not a number"),
        ("1,2\n3,4,5\n", {}, r"t.csv:2: 3 cells, the first row has 2"),
        ("a,b\n1,2\n3,4\n", {"label": "c"}, r"no column named 'c'; the file has the header"),
        ("1,2\n3,4\n", {"label": "a"}, r"no column named 'a'; the file has no header row"),
        ("1,2\n3,4\n", {"label": 2}, r"label column 2 does not exist; columns are 0..1"),
        ("1,2.5\n3,4\n", {}, r"column index 1: labels hold fractions"),
        ("", {}, "is empty; a CSV dataset needs input columns and a label column"),
        ("1\n2\n", {}, "has one column"),
        ("1,2\n3,4\n", {"label": -1}, "label must be a column name or a 0-based column index"),
        ("1,2\n3,4\n", {"header": "yes"}, "header must be auto, true or false"),
        ("1,2\n3,4\n", {"header": 1}, "header must be auto, true or false"),
    ],
)
def test_csv_errors(tmp_path: Path, body: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(HarnessError, match=message) as e:
        _csv(_write(tmp_path, body), params)
    assert e.value.hint


def test_csv_not_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(HarnessError, match="cannot read it as a UTF-8 CSV file") as e:
        _csv(path)
    assert e.value.hint


# image-folder ---------------------------------------------------------------------------------


def _folder(path: Path, params: dict[str, Any], samples: int) -> Any:
    return registry.preprocessor("image-folder")(path, params, samples, in_memory)


def test_image_folder_parts(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    root = make_class_folders(tmp_path / "pets")
    data = _folder(root, {"size": [8, 12], "dtype": "uint8"}, 3 * PER_CLASS)
    (features,) = data.features
    assert features.shape == (12, 3, 8, 12) and features.dtype == np.uint8
    # classes in turn (cat, dog, owl, cat, …); the first image of each class is mislabelled
    assert data.labels.tolist() == [0, 1, 2] * PER_CLASS
    brightest = features.reshape(12, 3, -1).mean(axis=2).argmax(axis=1)
    assert brightest.tolist() == [1, 2, 0] + [0, 1, 2] * (PER_CLASS - 1)
    crop = _folder(root, {"size": 8, "resize": 10, "layout": "NHWC", "dtype": "float16"}, 2)
    assert crop.features[0].shape == (2, 8, 8, 3) and crop.features[0].dtype == np.float16
    with pytest.raises(TooFewSamples, match=r"has 12 images in 3 class folders"):
        _folder(root, {}, 13)
    from PIL import Image

    (root / "dog" / "nested").mkdir()  # only the files directly in a class folder count
    Image.new("RGB", (4, 4)).save(root / "dog" / "nested" / "deep.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(root / "owl" / "i9.gif")
    data = _folder(root, {"size": 4, "dtype": "uint8", "layout": "NHWC"}, 13)
    assert data.labels.tolist()[-1] == 2 and data.features[0][-1, 0, 0].tolist() == [0, 0, 255]


def test_image_folder_errors(tmp_path: Path) -> None:
    from PIL import Image

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "a.png")
    (flat / "val_map.txt").write_text("a.png 0\n")
    with pytest.raises(HarnessError, match=r"no class subfolders \(it has a val_map.txt\)"):
        _folder(flat, {}, 1)
    assert _folder(flat, {"list": "val_map.txt", "size": 2}, 1).labels.tolist() == [0]
    with pytest.raises(HarnessError, match=r"no image list at .*other\.txt"):
        _folder(flat, {"list": "other.txt"}, 1)
    (flat / "bad.txt").write_text("a.png zero\n")
    with pytest.raises(HarnessError, match=r"bad.txt:1: expected 'IMAGE LABEL'"):
        _folder(flat, {"list": "bad.txt"}, 1)
    broken = tmp_path / "broken" / "only"
    broken.mkdir(parents=True)
    (broken / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(HarnessError, match=r"cannot decode the image .*x.jpg"):
        _folder(broken.parent, {}, 1)
    with pytest.raises(HarnessError, match=r"is not a folder"):
        _folder(flat / "a.png", {}, 1)
    with pytest.raises(HarnessError, match=r"resize \(4\) is smaller than size \(8x8\)"):
        _folder(flat, {"size": 8, "resize": 4}, 1)
    with pytest.raises(HarnessError, match=r"size must be an integer > 0 or \[height, width\]"):
        _folder(flat, {"size": [8, 0]}, 1)
