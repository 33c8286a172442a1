"""Tiny data and models for the task and backend tests, built here (no downloads).

Each model makes a known answer from its input, so that accuracy runs have exact figures:
- images: logits = the mean of each RGB channel; class c images are brightest in channel c;
- detection: constant boxes, the first one on every image's only ground-truth box;
- question answering: start/end logits peak on the tokens of "denver" and "broncos";
- digits (the "pick first ten" model of harness_testing.py) as TorchScript, torch.export,
  a pickled module, and a TFLite flatbuffer.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from harness_testing import WRONG_EVERY
from onnx import TensorProto, helper, numpy_helper

IMAGES = 20  # class i % 3; every 4th label wrong: top1 = 0.75
DETECTION_IMAGES = 4
CATEGORIES = [1, 3, 7]
BOX = [0.25, 0.25, 0.75, 0.75]  # ymin, xmin, ymax, xmax (normalized)


def _save(graph: Any, path: Path) -> Path:
    model = helper.make_model(
        graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests"
    )
    path.write_bytes(model.SerializeToString())
    return path


def make_images(root: Path) -> Path:
    """An ImageNet-style folder: val_map.txt and images of several sizes (PNG and JPEG)."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    lines = []
    for i in range(IMAGES):
        cls = i % 3
        height, width = 24 + 4 * (i % 4), 30 + 6 * (i % 3)
        pixels = rng.integers(0, 60, size=(height, width, 3)).astype(np.uint8)
        pixels[..., cls] += 150
        name = f"img_{i:03d}.{'jpg' if i % 5 == 0 else 'png'}"
        Image.fromarray(pixels).save(root / name)
        label = (cls + 1) % 3 if i % WRONG_EVERY == 0 else cls
        lines.append(f"{name} {label}")
    (root / "val_map.txt").write_text("\n".join(lines) + "\n")
    return root


def make_channel_mean_model(path: Path, *, layout: str = "NCHW") -> Path:
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    shape = ["N", 3, 16, 16] if layout == "NCHW" else ["N", 16, 16, 3]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["logits"], axes=axes, keepdims=0)],
        "channel_mean",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
    )
    return _save(graph, path)


def make_coco(root: Path) -> Path:
    """annotations/instances_val2017.json and val2017/ with one box of category 3 per image."""
    from PIL import Image

    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "val2017").mkdir(exist_ok=True)
    images, annotations = [], []
    for i in range(DETECTION_IMAGES):
        height, width = 48 + 8 * i, 64
        name = f"{i:012d}.png"
        Image.fromarray(np.full((height, width, 3), 40 * i, dtype=np.uint8)).save(
            root / "val2017" / name
        )
        image_id = 100 + i
        images.append({"id": image_id, "file_name": name, "height": height, "width": width})
        ymin, xmin, ymax, xmax = BOX
        box = [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]
        annotations.append(
            {
                "id": i + 1,
                "image_id": image_id,
                "category_id": 3,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
            }
        )
    categories = [{"id": c, "name": f"c{c}"} for c in CATEGORIES]
    document = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(document))
    return root


def make_constant_detector(path: Path) -> Path:
    """boxes [N,2,4], classes [N,2], scores [N,2]: the first detection is BOX, class index 1."""
    boxes = np.array([BOX, [0.0, 0.0, 0.1, 0.1]], dtype=np.float32)
    classes = np.array([1.0, 0.0], dtype=np.float32)
    scores = np.array([0.9, 0.0], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "axes12"], ["z3"]),
        helper.make_node("Unsqueeze", ["z", "axes1"], ["z2"]),
        helper.make_node("Add", ["z3", "boxes_c"], ["boxes"]),
        helper.make_node("Add", ["z2", "classes_c"], ["classes"]),
        helper.make_node("Add", ["z2", "scores_c"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_detector",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        outputs=[
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 2, 4]),
            helper.make_tensor_value_info("classes", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
        ],
        initializer=[
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
            numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes12"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1"),
            numpy_helper.from_array(boxes, "boxes_c"),
            numpy_helper.from_array(classes, "classes_c"),
            numpy_helper.from_array(scores, "scores_c"),
        ],
    )
    return _save(graph, path)


VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "denver", "broncos", "won", "super", "bowl",
    "50", "in", "2016", "who", "when", "did", "win", "?", ".", "which", "team", "un", "##aff",
    "##able", "hello",
]  # fmt: skip
CONTEXT = "The Denver Broncos won Super Bowl 50 in 2016."
QUESTIONS = [  # the model always answers "Denver Broncos"
    ("q1", "Who won Super Bowl 50?", ["Denver Broncos"]),  # exact
    ("q2", "When did the Broncos win?", ["2016"]),  # wrong
    ("q3", "Which team won?", ["The Denver Broncos"]),  # exact once normalized
    ("q4", "Who won?", ["Broncos", "Denver"]),  # f1 2/3
]
SQUAD_F1 = (1 + 0 + 1 + 2 / 3) / 4
SQUAD_EM = 0.5


def make_squad(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    qas = [
        {"id": qid, "question": q, "answers": [{"text": a, "answer_start": 0} for a in answers]}
        for qid, q, answers in QUESTIONS
    ]
    data = {"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    (root / "dev-v1.1.json").write_text(json.dumps(data))
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return root


def make_span_model(path: Path, *, length: int) -> Path:
    nodes = []
    for name in ("start_logits", "end_logits"):
        nodes += [
            helper.make_node("Equal", ["input_ids", f"{name}_id"], [f"{name}_eq"]),
            helper.make_node("Cast", [f"{name}_eq"], [f"{name}_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}_f", "ten"], [name]),
        ]
    ids = [
        numpy_helper.from_array(np.array(VOCAB.index(word), dtype=np.int64), f"{name}_id")
        for name, word in (("start_logits", "denver"), ("end_logits", "broncos"))
    ]
    graph = helper.make_graph(
        nodes,
        "span",
        inputs=[
            helper.make_tensor_value_info(n, TensorProto.INT64, ["N", length])
            for n in ("input_ids", "input_mask", "segment_ids")
        ],
        outputs=[
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", length])
            for n in ("start_logits", "end_logits")
        ],
        initializer=[*ids, numpy_helper.from_array(np.array(10.0, dtype=np.float32), "ten")],
    )
    return _save(graph, path)


def pick_weights() -> np.ndarray[Any, np.dtype[np.float32]]:
    """[10, 64]: output k is input pixel k (the harness_testing.make_model function)."""
    weights = np.zeros((10, 64), dtype=np.float32)
    weights[np.arange(10), np.arange(10)] = 1.0
    return weights


def make_torch_models(root: Path) -> dict[str, Path]:
    import torch

    module = torch.nn.Sequential(torch.nn.Linear(64, 10, bias=False))
    with torch.no_grad():
        module[0].weight.copy_(torch.from_numpy(pick_weights()))
    module.eval()
    paths = {
        "torchscript": root / "pick.torchscript.pt",
        "export": root / "pick.pt2",
        "pickled": root / "pick.module.pt",
    }
    with warnings.catch_warnings():  # torch.jit is deprecated, and still what many ship
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(module, torch.zeros(2, 64)), str(paths["torchscript"]))
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (torch.zeros(2, 64),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(paths["export"]))
    torch.save(module, paths["pickled"])
    return paths


def make_tflite(path: Path) -> Path:
    """A FULLY_CONNECTED flatbuffer with LiteRT's own schema code (no TensorFlow needed)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, shape: list[int], buffer: int, signature: list[int]) -> Any:
        t = s.TensorT()
        t.name, t.shape, t.shapeSignature = name, shape, signature
        t.type, t.buffer = s.TensorType.FLOAT32, buffer
        return t

    weights = s.BufferT()
    weights.data = list(pick_weights().tobytes())
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, -1], [2]
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    graph = s.SubGraphT()
    graph.tensors = [
        tensor("input", [1, 64], 1, [-1, 64]),
        tensor("w", [10, 64], 2, [10, 64]),
        tensor("logits", [1, 10], 3, [-1, 10]),
    ]
    graph.inputs, graph.outputs, graph.operators, graph.name = [0], [2], [op], "main"
    model = s.ModelT()
    model.version, model.description = 3, "tests"
    model.buffers = [s.BufferT(), s.BufferT(), weights, s.BufferT()]
    model.operatorCodes, model.subgraphs = [code], [graph]
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path
