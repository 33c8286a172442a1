"""`mlenv run` on a ResNet-shaped model against the raw backend, in the same environment.

In a temporary project, ``make_resnet.py`` builds a ResNet-50-shaped ONNX model and a fake
ImageNet folder; project recipes point at them (the model as an artifact with its sha256, the
images as a ``local:`` source, as ImageNet is supplied), with ImageNet's MLPerf preprocessing.
Then:

1. ``mlenv resolve`` and ``mlenv run --scenario Offline --mode performance`` with default
   settings (the quick profile; calibration chooses max-batch, workers, threads, target_qps).
2. ``mlenv run --scenario SingleStream --mode performance`` (``--ss-duration-ms``; LoadGen's
   10-minute default would make this benchmark last too long).
3. In the SAME environment (``mlenv exec -- python``), a raw onnxruntime session (default
   options, as the harness's ``threads: 0``) on the very preprocessed inputs the harness cached,
   at batch sizes 1, 8 and 32: samples/s, and the p90 of batch-1 calls.

Steps 1 and 3 alternate ``--rounds`` times (default 3), so that a machine whose load changes
(a shared one) changes both sides alike. Prints, per round, mlenv's Offline samples/s, the raw
best batch's and their ratio; the median ratio (goal >= 0.95); and SingleStream p90 minus the
p90 of raw batch-1 calls measured right after it (the latency mlenv adds). Numbers are printed,
never asserted. Needs PyPI once (onnxruntime, numpy, mlcommons-loadgen, pillow wheels into the
store under MLENV_HOME, as ``bench_install.py``), and onnx + Pillow in this interpreter to
build the inputs (``pip install -e '.[test,backends]'``).

    python benchmarks/bench_resnet.py [--images 128] [--width 0.375] [--raw-seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchcli import mlenv  # the benchmarks' one way to run mlenv
from make_resnet import IMAGES, MODEL, make_images, make_model, sha256

WIDTH = 52
IMAGES_ENV = "MLENV_BENCH_RESNET_IMAGES"
BATCHES = (1, 8, 32)
# print the figures of a run that a loaded machine made INVALID too
RUN = ("--mode", "performance", "--allow-invalid")

MANIFEST = """\
name: resnet-bench
recipes: [./recipes]
requires:
  - resnet-bench
  - fake-imagenet
  - onnxruntime >=1.18
benchmark:
  model: resnet-bench
  dataset: fake-imagenet
  backend: onnxruntime
  scenarios: [Offline, SingleStream]
  modes: [performance]
"""

MODEL_RECIPE = """\
name: resnet-bench
kind: model
summary: A ResNet-50-shaped model with seeded weights, built by benchmarks/make_resnet.py
versions: ["1.0"]
task: image-classification
format: onnx
inputs:
  - {{name: input, shape: [-1, 3, 224, 224], dtype: float32}}
outputs:
  - {{name: logits, shape: [-1, 1000], dtype: float32}}
install:
  - artifact: {{url: {file}, sha256: {sha256}, size: {size}}}
"""

DATASET_RECIPE = """\
name: fake-imagenet
kind: dataset
summary: Seeded JPEGs in ImageNet's layout (val_map.txt), built by benchmarks/make_resnet.py
versions: ["1.0"]
task: image-classification
samples: {count}
performance-sample-count: {count}
preprocess:                       # as imagenet2012-val (the MLPerf ResNet50 ONNX reference)
  name: image-classification
  size: 224
  resize: 256
  interpolation: area
  mean: [123.68, 116.78, 103.94]
  std: [1.0, 1.0, 1.0]
  layout: NCHW
  list: val_map.txt
  label_offset: 0
metric: top1
requires: ["pillow"]
install:
  - local: {{env: {env}}}
"""

RAW = r"""
import glob, json, os, sys, time
import numpy as np
import onnxruntime as ort

env, seconds, batches = sys.argv[1], float(sys.argv[2]), [int(b) for b in sys.argv[3:]]
[model] = glob.glob(f"{env}/artifacts/resnet-bench/**/*.onnx", recursive=True)
caches = glob.glob(f"{env}/.harness-cache/image-classification-*/input_0.npy")
cache = max(caches, key=os.path.getmtime)  # the one this run's harness used
data = np.ascontiguousarray(np.load(cache))  # the harness's preprocessed inputs, in memory
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
n = len(data)
out = {"samples": n, "model": model, "rate": {}, "batch1_ns": []}
for b in batches:
    rows = [np.take(data, np.arange(i, i + b) % n, axis=0) for i in range(0, max(n, b), b)]
    session.run(None, {name: rows[0]})  # warm-up
    done, k, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter_ns()
        session.run(None, {name: rows[k % len(rows)]})
        if b == 1:
            out["batch1_ns"].append(time.perf_counter_ns() - t0)
        done += b
        k += 1
    out["rate"][b] = done / (time.perf_counter() - start)
print(json.dumps(out))
"""


def result(project: Path, scenario: str) -> dict[str, object]:
    [path] = project.glob(f"results/*/*/{scenario}/performance/run_1/result.json")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def line(label: str, text: str) -> None:
    print(f"{label:<{WIDTH}} {text}")


def build(project: Path, a: argparse.Namespace) -> tuple[Path, dict[str, str]]:
    """The project: model and images (``make_resnet.py``), manifest, recipes."""
    recipes = project / "recipes"
    (recipes / "models").mkdir(parents=True, exist_ok=True)
    (recipes / "datasets").mkdir(parents=True, exist_ok=True)
    model = make_model(recipes / "models" / MODEL, width=a.width)
    images = make_images(project / IMAGES, count=a.images)
    (project / "mlenv.yaml").write_text(MANIFEST, encoding="utf-8")
    (recipes / "models" / "resnet-bench.yaml").write_text(
        MODEL_RECIPE.format(file=MODEL, sha256=sha256(model), size=model.stat().st_size),
        encoding="utf-8",
    )
    (recipes / "datasets" / "fake-imagenet.yaml").write_text(
        DATASET_RECIPE.format(count=a.images, env=IMAGES_ENV), encoding="utf-8"
    )
    return model, {**os.environ, IMAGES_ENV: str(images)}


def raw_rates(project: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    """The raw session in the same environment, on the harness's cached inputs."""
    [envdir] = (project / ".mlenv" / "envs").iterdir()
    args = ["exec", "--", "python", "-c", RAW, str(envdir), str(seconds), *map(str, BATCHES)]
    raw = json.loads(mlenv(project, env, *args).strip().splitlines()[-1])
    raw["rate"] = {int(b): float(r) for b, r in raw["rate"].items()}
    return dict(raw)


def measure(project: Path, env: dict[str, str], a: argparse.Namespace) -> dict[str, Any]:
    """``--rounds`` times, one right after the other: mlenv's Offline run, then the raw
    session, so that a machine whose load changes meanwhile changes both alike; then
    SingleStream once and raw batch-1 calls right after it."""
    mlenv(project, env, "resolve")
    rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for _ in range(a.rounds):
        mlenv(project, env, "run", *RUN, "--scenario", "Offline")
        rounds.append((result(project, "Offline"), raw_rates(project, env, a.raw_seconds)))
    ss = f"SingleStream.min_duration={a.ss_duration_ms}"
    mlenv(project, env, "run", *RUN, "--scenario", "SingleStream", "--set", ss)
    single = result(project, "SingleStream")
    return {"rounds": rounds, "single": single, "raw1": raw_rates(project, env, a.raw_seconds)}


def report(model: Path, a: argparse.Namespace, got: dict[str, Any]) -> None:
    ratios = []
    for i, (offline, raw) in enumerate(got["rounds"], 1):
        rates = raw["rate"]
        best = max(rates, key=lambda b: rates[b])
        ours = float(offline["samples_per_second"])
        ratios.append(ours / rates[best])
        line(f"round {i}: mlenv run Offline (defaults) samples/s", f"{ours:10.1f}")
        line("  its settings", json.dumps(offline.get("settings")))
        line("  its benchmark_config", json.dumps(offline.get("benchmark_config")))
        for b in BATCHES:
            line(f"  raw onnxruntime batch {b} samples/s", f"{rates[b]:10.1f}")
        line(f"  ratio mlenv / raw best (batch {best})", f"{ratios[-1]:10.2f}x")
    print(f"model: ResNet-50-shaped, width {a.width}, {model.stat().st_size:,} bytes")
    print(f"data: {a.images} fake ImageNet JPEGs; cores: {os.cpu_count()}")
    line("backend", json.dumps(got["rounds"][0][0].get("backend")))
    median = statistics.median(ratios)
    line(f"ratio mlenv / raw best, median of {len(ratios)}", f"{median:10.2f}x  (goal >= 0.95)")
    single = got["single"]
    p90 = int(single["latency_ns"]["p90"])
    batch1 = sorted(got["raw1"]["batch1_ns"])
    raw_p90 = batch1[min(len(batch1) - 1, int(0.9 * len(batch1)))]
    line("mlenv SingleStream p90 ms", f"{p90 / 1e6:10.3f}  (valid: {single['valid']})")
    line("raw batch-1 p90 ms", f"{raw_p90 / 1e6:10.3f}")
    line("SingleStream p90 added over raw batch 1 ms", f"{(p90 - raw_p90) / 1e6:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.375)
    parser.add_argument("--raw-seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ss-duration-ms", type=int, default=10000)
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-resnet-") as tmp:
        project = a.keep or Path(tmp) / "project"
        model, env = build(project, a)
        got = measure(project, env, a)
        report(model, a, got)


if __name__ == "__main__":
    main()
