"""Tasks as data: image classification, object detection and question answering, on tiny data.

Each task is run end to end (accuracy mode, exact figures) and its parts are checked in this
process; a package the task needs (Pillow, pycocotools) that the environment lacks is one
`error:` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_tasks import (
    DETECTION_IMAGES,
    IMAGES,
    SQUAD_EM,
    SQUAD_F1,
    VOCAB,
    make_channel_mean_model,
    make_constant_detector,
    make_images,
    make_span_model,
    make_squad,
)
from harness_testing import HARNESS, PACKAGE, RunHarness
from mlenv_harness.data.dataset import in_memory
from mlenv_harness.data.squad import load_question_answering
from mlenv_harness.data.wordpiece import WordPiece
from mlenv_harness.errors import HarnessError
from mlenv_harness.metrics.squad import SquadF1, f1_score, normalize

NORMALIZE = {"mean": [128, 128, 128], "std": [64, 64, 64]}


def _image_config(config: dict[str, Any], root: Path, model: Path, layout: str) -> None:
    shape = [-1, 3, 16, 16] if layout == "NCHW" else [-1, 16, 16, 3]
    config["model"] = {
        "path": str(model),
        "format": "onnx",
        "inputs": [{"name": "image", "shape": shape, "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": [-1, 3], "dtype": "float32"}],
    }
    params = {"size": 16, "resize": 18, "layout": layout, **NORMALIZE}
    config["data"] = {
        "path": str(root),
        "samples": IMAGES,
        "preprocess": {"name": "image-classification", "params": params},
        "metric": "top1",
    }
    config["backend"]["max_batch"] = 8


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_image_classification(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path, layout: str
) -> None:
    pytest.importorskip("PIL")
    root = make_images(tmp_path / "images")
    model = make_channel_mean_model(tmp_path / "mean.onnx", layout=layout)
    _image_config(base_config, root, model, layout)
    base_config["mode"] = "accuracy"
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["accuracy"] == {"top1": 0.75}


def test_image_preprocessing_geometry(tmp_path: Path) -> None:
    """Shorter side to `resize`, then the central `size` square; (x - mean) / std; offset."""
    image_module = pytest.importorskip("PIL.Image")
    from mlenv_harness.data.images import load_image_classification

    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20, 0] = 255  # left half red, right half blue
    pixels[:, 20:, 2] = 255
    image_module.fromarray(pixels).save(tmp_path / "a.png")
    (tmp_path / "val_map.txt").write_text("a.png 4\n")
    params = {"size": 10, "resize": 20, "layout": "NHWC", "mean": [0, 0, 0], "std": [255, 1, 1]}
    params["label_offset"] = 1
    data = load_image_classification(tmp_path, params, 1, in_memory)
    (features,) = data.features
    assert features.shape == (1, 10, 10, 3) and features.dtype == np.float32
    assert np.allclose(features[0, :, :5, 0], 1.0) and np.allclose(features[0, :, 5:, 0], 0.0)
    assert np.allclose(features[0, :, 5:, 2], 255.0)
    assert data.labels.tolist() == [5]
    with pytest.raises(HarnessError, match="mean must be a list of 3 numbers"):
        load_image_classification(tmp_path, {"mean": [1, 2]}, 1, in_memory)
    with pytest.raises(HarnessError, match="has 1 images listed, 2 samples are needed"):
        load_image_classification(tmp_path, {}, 2, in_memory)


def _fake_module(tmp_path: Path, name: str) -> Path:
    """A launcher folder whose `name` package cannot be imported (an env without it)."""
    launcher = tmp_path / "launcher"
    launcher.mkdir(exist_ok=True)
    (launcher / PACKAGE).symlink_to(HARNESS)
    (launcher / name).mkdir()
    (launcher / name / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{name}'\", name='{name}')\n"
    )
    return launcher


def test_images_without_pillow(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path / "images"
    root.mkdir()
    (root / "val_map.txt").write_text("".join(f"i{i}.png {i % 3}\n" for i in range(IMAGES)))
    _image_config(base_config, root, tmp_path / "unused.onnx", "NCHW")
    base_config["model"]["path"] = str(make_channel_mean_model(tmp_path / "m.onnx"))
    run = run_harness(base_config, launcher=_fake_module(tmp_path, "PIL"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.error_line().startswith(
        "error: preprocessor image-classification decodes JPEG/PNG images with Pillow, "
        "which is not installed in this environment (hint: add a recipe that installs Pillow"
    )


def _detection_config(config: dict[str, Any], root: Path, model: Path) -> None:
    config["model"] = {
        "path": str(model),
        "format": "onnx",
        "inputs": [{"name": "image", "shape": [-1, 3, 32, 32], "dtype": "float32"}],
        "outputs": [
            {"name": "boxes", "shape": [-1, 2, 4], "dtype": "float32"},
            {"name": "classes", "shape": [-1, 2], "dtype": "float32"},
            {"name": "scores", "shape": [-1, 2], "dtype": "float32"},
        ],
    }
    config["data"] = {
        "path": str(root),
        "samples": DETECTION_IMAGES,
        "preprocess": {"name": "object-detection", "params": {"size": 32, **NORMALIZE}},
        "metric": "map",
    }


def test_object_detection(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("PIL")
    pytest.importorskip("pycocotools")
    from harness_tasks import make_coco

    _detection_config(
        base_config, make_coco(tmp_path / "coco"), make_constant_detector(tmp_path / "det.onnx")
    )
    base_config["mode"] = "accuracy"
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""  # pycocotools' prints are kept off stdout
    assert run.result()["accuracy"] == {"map": pytest.approx(1.0)}
    assert run.read("accuracy.txt").startswith(
        "mAP=100.000%\nmAP = 1.0000 (4 images, 4 detections)"
    )


def test_detection_without_pycocotools(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    _detection_config(base_config, tmp_path, make_constant_detector(tmp_path / "det.onnx"))
    base_config["mode"] = "accuracy"
    run = run_harness(base_config, launcher=_fake_module(tmp_path, "pycocotools"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.error_line().startswith(
        "error: metric map scores with pycocotools, which is not installed in this environment"
    )


def test_question_answering(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    root = make_squad(tmp_path / "squad")
    base_config["model"] = {
        "path": str(make_span_model(tmp_path / "span.onnx", length=32)),
        "format": "onnx",
        "inputs": [
            {"name": n, "shape": [-1, 32], "dtype": "int64"}
            for n in ("input_ids", "input_mask", "segment_ids")
        ],
        "outputs": [
            {"name": n, "shape": [-1, 32], "dtype": "float32"}
            for n in ("start_logits", "end_logits")
        ],
    }
    params = {"max_seq_length": 32, "max_query_length": 8}
    base_config["data"] = {
        "path": str(root),
        "samples": 4,
        "preprocess": {"name": "question-answering", "params": params},
        "metric": "f1",
    }
    base_config["mode"] = "accuracy"
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert run.result()["accuracy"] == {
        "f1": pytest.approx(SQUAD_F1),
        "exact_match": pytest.approx(SQUAD_EM),
    }


def test_squad_features(tmp_path: Path) -> None:
    data = load_question_answering(
        make_squad(tmp_path), {"max_seq_length": 24, "max_query_length": 4}, 2, in_memory
    )
    ids, mask, segments = data.features
    assert ids.shape == (2, 24) and ids.dtype == np.int64
    tokens = [VOCAB[i] for i in ids[0][mask[0] == 1]]
    # "who won super bowl 50?" cut at 4 query tokens
    assert tokens == [
        "[CLS]", "who", "won", "super", "bowl", "[SEP]",
        "the", "denver", "broncos", "won", "super", "bowl", "50", "in", "2016", ".", "[SEP]",
    ]  # fmt: skip
    assert segments[0].tolist() == [0] * 6 + [1] * 11 + [0] * 7
    label = data.labels[0]
    assert label["token_word"][6:16] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert label["answers"] == ["Denver Broncos"]


def test_wordpiece_and_squad_scoring() -> None:
    tokenizer = WordPiece({t: i for i, t in enumerate(VOCAB)}, lower_case=True)
    assert tokenizer.tokenize("Unaffable, Héllo?") == [
        "un",
        "##aff",
        "##able",
        "[UNK]",
        "hello",
        "?",
    ]
    assert normalize("The  Denver, Broncos!") == "denver broncos"
    assert f1_score("Denver Broncos", "Broncos") == pytest.approx(2 / 3)
    metric = SquadF1()
    words = ["The", "Denver", "Broncos", "won."]
    start = np.array([0, 0, 5, 1, 0], dtype=np.float32)
    end = np.array([0, 0, 0, 6, 9], dtype=np.float32)
    labels = [{"words": words, "token_word": [-1, 0, 1, 2, 3], "answers": ["Denver Broncos"]}]
    logits = metric.responses([start[None], end[None]])
    scored = metric.score({0: logits[0].tobytes()}, labels)
    # the best span starts at "Denver" and ends at "won." (5 + 9): f1 of 3 words against 2
    assert scored.values == {"f1": pytest.approx(0.8), "exact_match": 0.0}


def test_model_that_does_not_fit_the_data(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    """The image model on the digits data: declared and real inputs agree, the data does not."""
    model = make_channel_mean_model(tmp_path / "mean.onnx")
    base_config["model"] = {
        "path": str(model),
        "format": "onnx",
        "inputs": [{"name": "image", "shape": [-1, 3, 16, 16], "dtype": "float32"}],
        "outputs": [{"name": "logits", "shape": [-1, 3], "dtype": "float32"}],
    }
    run = run_harness(base_config)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.error_line() == (
        "error: model input image is declared float32 [-1, 3, 16, 16], preprocessor digits "
        "makes float32 [-1, 64] (hint: the model and dataset recipes do not fit together)"
    )
