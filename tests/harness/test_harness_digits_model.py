"""The example model: the committed ONNX file, and the trainer that makes it byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import onnx
from harness_testing import REPO, RunHarness, make_digits

MODEL = REPO / "recipes" / "models" / "digits-mlp.onnx"
TRAINER = REPO / "examples" / "digits" / "train_model.py"


def _dims(value: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_committed_model_signature() -> None:
    model = onnx.load(str(MODEL))
    onnx.checker.check_model(model)
    assert (model.ir_version, [o.version for o in model.opset_import]) == (8, [17])
    assert (model.producer_name, model.producer_version) == ("mlenv-digits-train", "1")
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert (inp.name, inp.type.tensor_type.elem_type, _dims(inp)) == (
        "input",
        onnx.TensorProto.FLOAT,
        ["N", 64],
    )
    assert (out.name, out.type.tensor_type.elem_type, _dims(out)) == (
        "logits",
        onnx.TensorProto.FLOAT,
        ["N", 10],
    )


def test_harness_runs_committed_model(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    base_config.update(mode="accuracy", model={**base_config["model"], "path": str(MODEL)})
    run = run_harness(base_config)
    assert run.returncode == 0, run.stderr
    assert 0.0 <= run.result()["accuracy"]["top1"] <= 1.0


def test_trainer_is_deterministic(tmp_path: Path) -> None:
    data = make_digits(tmp_path / "digits.csv.gz", samples=300)
    outputs = []
    for name in ("a.onnx", "b.onnx"):
        done = subprocess.run(
            [sys.executable, str(TRAINER), "--data", str(data), "--out", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outputs.append(done.stdout)
    first, second = (tmp_path / "a.onnx").read_bytes(), (tmp_path / "b.onnx").read_bytes()
    assert first == second
    assert f"sha256: {hashlib.sha256(first).hexdigest()}" in outputs[0]
    assert "accuracy (all 300):" in outputs[0]
