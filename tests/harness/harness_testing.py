"""Helpers of the harness tests: the harness as the CLI runs it, a model and data we control.

The harness is imported under the name the CLI gives it, ``mlenv_harness``, straight from
``harness/`` (no install needed), and run the way the CLI runs it: a subprocess of this
interpreter, ``python -I -c "…runpy.run_module('mlenv_harness', …)" --config run.json``, from a
folder that holds the symlink ``mlenv_harness -> <repo>/harness``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "harness"
PACKAGE = "mlenv_harness"
SAMPLES = 200
WRONG_EVERY = 4  # every 4th label disagrees with the model: top1 is exactly 0.75
RUN_TIMEOUT_S = 60


def import_harness() -> None:
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        PACKAGE, HARNESS / "__init__.py", submodule_search_locations=[str(HARNESS)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)


def launch_command(harness_root: Path, config: Path) -> list[str]:
    """Exactly the command `mlenv run` uses, with this interpreter as the env's."""
    code = (
        "import sys,runpy; "
        f"sys.path.insert(0, {str(harness_root)!r}); "
        f"runpy.run_module({PACKAGE!r}, run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-I", "-c", code, "--config", str(config)]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    def read(self, name: str) -> str:
        return (self.output_dir / name).read_text(encoding="utf-8")

    def result(self) -> dict[str, Any]:
        return dict(json.loads(self.read("result.json")))

    def detail(self) -> dict[str, Any]:
        """The last value of each key of LoadGen's detail log."""
        values: dict[str, Any] = {}
        for line in self.read("mlperf_log_detail.txt").splitlines():
            if line.startswith(":::MLLOG "):
                record = json.loads(line[len(":::MLLOG ") :])
                values[record["key"]] = record["value"]
        return values

    def error_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def make_model(path: Path, *, input_name: str = "input") -> Path:
    """logits = the first 10 pixels: the predicted class is the brightest of pixels 0..9."""
    weights = np.zeros((64, 10), dtype=np.float32)
    weights[np.arange(10), np.arange(10)] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "w"], ["logits"])],
        "pick_first_ten",
        inputs=[helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 64])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(weights, name="w")],
    )
    model = helper.make_model(
        graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests"
    )
    path.write_bytes(model.SerializeToString())
    return path


def true_classes(samples: int = SAMPLES) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.arange(samples, dtype=np.int64) % 10


def make_digits(path: Path, samples: int = SAMPLES) -> Path:
    """A digits-format csv.gz: sample i is class i % 10 for the model; every 4th label is off."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 9, size=(samples, 64))
    classes = true_classes(samples)
    pixels[np.arange(samples), classes] = 16
    labels = classes.copy()
    labels[::WRONG_EVERY] = (labels[::WRONG_EVERY] + 1) % 10
    rows = "".join(",".join(map(str, [*p, y])) + "\n" for p, y in zip(pixels, labels, strict=True))
    with gzip.open(path, "wt", encoding="ascii") as f:
        f.write(rows)
    return path


RunHarness = Callable[..., Run]
