"""Train the digits MLP deterministically and write it as an ONNX model.

The data is scikit-learn's 8x8 digits table (``sklearn/datasets/data/digits.csv.gz`` from the
scikit-learn 1.5.2 wheel): 1797 rows of 64 pixel values (0..16) and the label, no header.

The network is 64 -> 32 (ReLU) -> 10, trained full-batch with a hand-written Adam in float64 from
a fixed seed, on every sample whose index is not a multiple of 5 (those are held out). Every weight
is rounded to a coarse grid before the cast to float32, so BLAS differences between machines cannot
change the bytes of the model. Running this twice gives byte-identical files.

    python examples/digits/train_model.py --data digits.csv.gz \
        [--out recipes/models/digits-mlp.onnx]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

SEED = 20240911
HIDDEN = 32
CLASSES = 10
ITERATIONS = 600
LEARNING_RATE = 0.01
WEIGHT_DECAY = 1e-4
ROUND_DECIMALS = 3
HOLD_OUT_EVERY = 5
IR_VERSION = 8
OPSET = 17
PRODUCER_NAME = "mlenv-digits-train"
PRODUCER_VERSION = "1"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "recipes" / "models" / "digits-mlp.onnx"

F64 = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class Weights:
    w1: F64
    b1: F64
    w2: F64
    b2: F64


def load_digits(path: Path) -> tuple[F64, NDArray[np.int64]]:
    """Features scaled to [0, 1] (pixel / 16) and integer labels."""
    with gzip.open(path, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns (64 pixels + label), found {table.shape[1]}")
    return table[:, :64] / 16.0, table[:, 64].astype(np.int64)


def forward(w: Weights, x: F64) -> tuple[F64, F64]:
    hidden = np.maximum(x @ w.w1 + w.b1, 0.0)
    return hidden, hidden @ w.w2 + w.b2


def train(x: F64, y: NDArray[np.int64]) -> Weights:
    rng = np.random.default_rng(SEED)
    params = [
        rng.standard_normal((64, HIDDEN)) * np.sqrt(2.0 / 64),
        np.zeros(HIDDEN),
        rng.standard_normal((HIDDEN, CLASSES)) * np.sqrt(2.0 / HIDDEN),
        np.zeros(CLASSES),
    ]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    onehot = np.eye(CLASSES)[y]
    n = x.shape[0]
    for step in range(1, ITERATIONS + 1):
        w = Weights(w1=params[0], b1=params[1], w2=params[2], b2=params[3])
        hidden, logits = forward(w, x)
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        d_logits = (probs - onehot) / n
        d_hidden = (d_logits @ w.w2.T) * (hidden > 0)
        grads = [
            x.T @ d_hidden + WEIGHT_DECAY * w.w1,
            d_hidden.sum(axis=0),
            hidden.T @ d_logits + WEIGHT_DECAY * w.w2,
            d_logits.sum(axis=0),
        ]
        for i, g in enumerate(grads):
            first[i] = beta1 * first[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g * g
            m_hat = first[i] / (1 - beta1**step)
            v_hat = second[i] / (1 - beta2**step)
            params[i] = params[i] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + eps)
    return Weights(w1=params[0], b1=params[1], w2=params[2], b2=params[3])


def quantize(w: Weights) -> Weights:
    """Round to a coarse grid, then to float32, so last-bit BLAS noise cannot reach the file."""

    def q(a: F64) -> F64:
        return np.round(a, ROUND_DECIMALS).astype(np.float32).astype(np.float64)

    return Weights(w1=q(w.w1), b1=q(w.b1), w2=q(w.w2), b2=q(w.b2))


def accuracy(w: Weights, x: F64, y: NDArray[np.int64]) -> float:
    x32 = x.astype(np.float32)
    hidden = np.maximum(x32 @ w.w1.astype(np.float32) + w.b1.astype(np.float32), 0)
    logits = hidden @ w.w2.astype(np.float32) + w.b2.astype(np.float32)
    return float((logits.argmax(axis=1) == y).mean())


def to_onnx(w: Weights) -> onnx.ModelProto:
    def init(name: str, a: F64) -> TensorProto:
        return numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name=name)

    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h_mm"], name="fc1_matmul"),
        helper.make_node("Add", ["h_mm", "b1"], ["h_pre"], name="fc1_add"),
        helper.make_node("Relu", ["h_pre"], ["hidden"], name="relu"),
        helper.make_node("MatMul", ["hidden", "w2"], ["o_mm"], name="fc2_matmul"),
        helper.make_node("Add", ["o_mm", "b2"], ["logits"], name="fc2_add"),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[init("w1", w.w1), init("b1", w.b1), init("w2", w.w2), init("b2", w.b2)],
    )
    model = helper.make_model(
        graph,
        ir_version=IR_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
    )
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="digits.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="ONNX file to write")
    args = parser.parse_args(argv)

    x, y = load_digits(args.data)
    held_out = np.arange(x.shape[0]) % HOLD_OUT_EVERY == 0
    weights = quantize(train(x[~held_out], y[~held_out]))
    data = to_onnx(weights).SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)

    print(f"held-out accuracy: {accuracy(weights, x[held_out], y[held_out]):.4f}")
    print(f"accuracy (all {x.shape[0]}): {accuracy(weights, x, y):.4f}")
    print(f"wrote {args.out} ({len(data)} bytes)")
    print(f"sha256: {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
