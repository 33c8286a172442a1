"""Build a ResNet-50-shaped ONNX model and a fake ImageNet folder, reproducibly, for
``bench_resnet.py``.

The model has ResNet-50's structure — a 7x7/2 stem, a 3x3/2 max pool, bottleneck blocks
[3, 4, 6, 3] with projection shortcuts, global average pooling, a 1000-way classifier — with
batch normalisation folded into each convolution's bias, as inference graphs have it. Its
channels are ``--width`` times ResNet-50's (default 0.375: about a seventh of the arithmetic, so
one image takes some milliseconds on a small CPU). Input ``input`` [N,3,224,224] float32 NCHW,
output ``logits`` [N,1000]. Weights come from a fixed seed and are rounded to multiples of
1/1024 (exact in float32), so the file is the same bytes on every machine.

The folder holds ``val_map.txt`` ("<file> <label>" lines, as ImageNet's) and ``--images``
JPEGs of 500x375 (smooth colour noise, from a seed), written with Pillow.

    python benchmarks/make_resnet.py OUT_DIR [--width 0.375] [--images 128]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

GRID = 1024.0
BLOCKS = (3, 4, 6, 3)
MODEL = "resnet-bench.onnx"
IMAGES = "images"


def make_model(path: Path, *, width: float = 0.375, seed: int = 50) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    weights: list[Any] = []

    def conv(x: str, cin: int, cout: int, k: int, stride: int, *, gain: float = 1.0) -> str:
        name = f"conv{len(nodes)}"
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = np.round(rng.standard_normal((cout, cin, k, k)) * std * GRID) / GRID
        b = np.round(rng.standard_normal(cout) * 0.01 * GRID) / GRID
        weights.append(numpy_helper.from_array(w.astype(np.float32), f"{name}.w"))
        weights.append(numpy_helper.from_array(b.astype(np.float32), f"{name}.b"))
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.w", f"{name}.b"],
                [name],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        return name

    def relu(x: str) -> str:
        nodes.append(helper.make_node("Relu", [x], [f"{x}.relu"]))
        return f"{x}.relu"

    def channels(n: int) -> int:
        return max(8, round(n * width / 8) * 8)

    x = relu(conv("input", 3, channels(64), 7, 2))
    nodes.append(
        helper.make_node(
            "MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
        )
    )
    x, cin = "pool", channels(64)
    for stage, count in enumerate(BLOCKS):
        mid = channels(64 * 2**stage)
        cout = 4 * mid
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            y = relu(conv(x, cin, mid, 1, 1))
            y = relu(conv(y, mid, mid, 3, stride))
            y = conv(y, mid, cout, 1, 1, gain=0.25)  # keeps the residual sums bounded
            shortcut = conv(x, cin, cout, 1, stride) if block == 0 else x
            added = f"add{len(nodes)}"
            nodes.append(helper.make_node("Add", [y, shortcut], [added]))
            x, cin = relu(added), cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    fc = np.round(rng.standard_normal((cin, 1000)) * np.sqrt(1.0 / cin) * GRID) / GRID
    weights.append(numpy_helper.from_array(fc.astype(np.float32), "fc.w"))
    weights.append(numpy_helper.from_array(np.zeros(1000, np.float32), "fc.b"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "resnet_bench",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])],
        initializer=weights,
    )
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    model.producer_name = "mlenv benchmarks/make_resnet.py"
    path.write_bytes(model.SerializeToString())
    return path


def make_images(folder: Path, *, count: int = 128, seed: int = 1) -> Path:
    """``count`` JPEGs of 500x375 and ``val_map.txt`` with labels 0..999."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        coarse = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((500, 375), Image.Resampling.BICUBIC)
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        image.save(folder / name, format="JPEG", quality=90)
        lines.append(f"{name} {int(rng.integers(0, 1000))}\n")
    (folder / "val_map.txt").write_text("".join(lines), encoding="utf-8")
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=float, default=0.375)
    parser.add_argument("--images", type=int, default=128)
    a = parser.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    model = make_model(a.out / MODEL, width=a.width)
    make_images(a.out / IMAGES, count=a.images)
    print(f"{model}  sha256 {sha256(model)}  {model.stat().st_size} bytes")
    print(f"{a.out / IMAGES}  {a.images} images")


if __name__ == "__main__":
    main()
