"""Harness overhead: the harness against bare LoadGen and against the raw backend, in one run.

Prints three ratios, each with its goal (the numbers are printed whether or not a goal is met):

1. Offline samples/s, harness with the ``null`` backend (default worker pool) ÷ bare LoadGen
   with a minimal Python SUT (FastSUT answering each sample with the same 4 bytes). goal >= 0.9
2. Offline samples/s, harness with onnxruntime (one worker) ÷ the raw onnxruntime session
   looping over batches, same model, threads and batch size. The model is an MLP
   64-1024-1024-10 built here, whose inference outweighs LoadGen's own cost per sample;
   the digits example (recipes/models/digits-mlp.onnx) is printed too, for information: its
   raw session is faster than bare LoadGen can take answers, so no harness can keep up with it.
                                                                        goal >= 0.95
3. SingleStream p90 latency the harness adds over a raw session.run of one sample of the
   digits model (LoadGen's p90 minus the raw call's p90; bare LoadGen's own p90 is shown).
                                                                        goal <= 20 us

Every figure is the best of ``--repeat`` runs (interleaved), as machines shared with other
work are noisy. Every harness run goes through the same launcher as `mlenv run`: a
subprocess of this interpreter, which needs numpy, onnx, onnxruntime and mlcommons-loadgen
(`pip install -e '.[test]'`).

    python benchmarks/bench_harness.py [--duration-ms 1500] [--batch 1024] [--threads 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "recipes" / "models" / "digits-mlp.onnx"
SAMPLES = 1797
OFFLINE_QPS = 3_000_000  # above what any of these reaches: the run outlasts min_duration
BOOT = (
    "import sys,runpy; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('mlenv_harness', run_name='__main__', alter_sys=True)"
)


def make_heavy_model(path: Path) -> Path:
    """An MLP 64-1024-1024-10 with the digits model's input and output names."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    sizes = [64, 1024, 1024, 10]
    nodes, weights = [], []
    current = "input"
    for k in range(3):
        w = (rng.standard_normal((sizes[k], sizes[k + 1])) / np.sqrt(sizes[k])).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{k}"))
        out = "logits" if k == 2 else f"h{k}"
        nodes.append(helper.make_node("MatMul", [current, f"w{k}"], [out if k == 2 else f"m{k}"]))
        if k < 2:
            nodes.append(helper.make_node("Relu", [f"m{k}"], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "heavy_mlp",
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=weights,
    )
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


def make_data(path: Path) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 17, size=(SAMPLES, 64))
    labels = rng.integers(0, 10, size=SAMPLES)
    rows = "".join(",".join(map(str, [*p, y])) + "\n" for p, y in zip(pixels, labels, strict=True))
    with gzip.open(path, "wt", encoding="ascii") as f:
        f.write(rows)
    return path


def harness_run(
    tmp: Path, run: str, scenario: str, settings: dict[str, Any], model: Path, **backend: Any
) -> dict[str, Any]:
    launcher = tmp / "launcher"
    if not launcher.exists():
        launcher.mkdir()
        (launcher / "mlenv_harness").symlink_to(ROOT / "harness", target_is_directory=True)
    out = tmp / run
    config = {
        "version": 1,
        "benchmark": "digits-mlp",
        "dataset": "digits",
        "scenario": scenario,
        "mode": "performance",
        "output_dir": str(out),
        "model": {
            "path": str(model),
            "format": "onnx",
            "inputs": [{"name": "input", "shape": [-1, 64], "dtype": "float32"}],
            "outputs": [{"name": "logits", "shape": [-1, 10], "dtype": "float32"}],
        },
        "data": {
            "path": str(tmp / "digits.csv.gz"),
            "samples": SAMPLES,
            "preprocess": {"name": "digits", "params": {"scale": 16}},
            "metric": "top1",
        },
        "backend": backend,
        "settings": settings,
    }
    path = tmp / f"{run}.json"
    path.write_text(json.dumps(config))
    cmd = [sys.executable, "-I", "-c", BOOT, str(launcher), "--config", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"harness run {run} failed:\n{done.stderr}")
    return dict(json.loads((out / "result.json").read_text()))


def measure_in_child(kind: str, arg: str) -> dict[str, Any]:
    """Bare LoadGen and the raw backend run in a fresh process each, like the harness."""
    cmd = [sys.executable, __file__, "--child", kind, arg]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def bare_loadgen(scenario: str, settings_json: str, out: str) -> dict[str, Any]:
    import array

    import mlperf_loadgen as lg

    settings_map = json.loads(settings_json)
    answer = array.array("i", [0])
    address = answer.buffer_info()[0]

    def issue(ids: list[int], indices: list[int]) -> None:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, address, 4) for i in ids])

    Path(out).mkdir(parents=True, exist_ok=True)
    conf = Path(out) / "user.conf"
    conf.write_text("".join(f"bare.{scenario}.{k} = {v}\n" for k, v in settings_map.items()))
    settings = lg.TestSettings()
    settings.FromConfig("", "bare", scenario, 0)
    settings.FromConfig(str(conf), "bare", scenario, 2)
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    logs = lg.LogSettings()
    logs.log_output.outdir = out
    logs.log_output.copy_summary_to_stdout = False
    logs.enable_trace = False
    sut = lg.ConstructFastSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(SAMPLES, SAMPLES, lambda s: None, lambda s: None)
    lg.StartTestWithLogSettings(sut, qsl, settings, logs, str(Path(out) / "no-audit.config"))
    lg.DestroyQSL(qsl)
    lg.DestroyFastSUT(sut)
    values = {}
    for line in (Path(out) / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            record = json.loads(line[9:])
            values[record["key"]] = record["value"]
    return {
        "samples_per_second": values.get("result_samples_per_second"),
        "p90": values.get("result_90.00_percentile_latency_ns"),
    }


def raw_backend(scenario: str, threads_batch: str, model: str) -> dict[str, Any]:
    import onnxruntime as ort

    threads, batch = map(int, threads_batch.split(","))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    data = (rng.integers(0, 17, size=(max(batch, 64), 64)) / 16).astype(np.float32)
    if scenario == "Offline":
        batches = [data[:batch]] * 8
        for b in batches:  # warm up
            session.run(["logits"], {"input": b})
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < 1.5:
            for b in batches:
                session.run(["logits"], {"input": b})
            done += batch * len(batches)
        return {"samples_per_second": done / (time.perf_counter() - start)}
    one = [data[i : i + 1] for i in range(64)]
    times = np.empty(20_000, dtype=np.int64)
    for i in range(2_000):
        session.run(["logits"], {"input": one[i % 64]})
    for i in range(len(times)):
        t = time.perf_counter_ns()
        session.run(["logits"], {"input": one[i % 64]})
        times[i] = time.perf_counter_ns() - t
    return {"p90": float(np.percentile(times, 90))}


def _ratio(line: str, value: float, goal: str, met: bool) -> None:
    print(f"{line:<56} {value:9.3f}   goal {goal:<8} {'met' if met else 'MISSED'}")


def best(runs: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in runs]
    return min(values) if key == "p90" else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration-ms", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        kind, arg = a.child
        if kind == "raw":
            scenario, rest, model = arg.split("|")
            print(json.dumps(raw_backend(scenario, rest, model)))
        else:
            scenario, settings, out = arg.split("|")
            print(json.dumps(bare_loadgen(scenario, settings, out)))
        return
    offline = {"min_duration": a.duration_ms, "target_qps": OFFLINE_QPS}
    heavy_offline = {"min_duration": a.duration_ms, "target_qps": 40_000}
    stream = {"min_duration": a.duration_ms, "min_query_count": 1024, "target_latency": 0.02}
    backend = {"threads": a.threads, "max_batch": a.batch}
    shape = f"{a.threads},{a.batch}"
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-") as name:
        tmp = Path(name)
        make_data(tmp / "digits.csv.gz")
        heavy = make_heavy_model(tmp / "heavy.onnx")
        plan = {
            "bare_off": lambda i: measure_in_child(
                "bare", f"Offline|{json.dumps(offline)}|{tmp / f'bare-off{i}'}"
            ),
            "bare_ss": lambda i: measure_in_child(
                "bare", f"SingleStream|{json.dumps(stream)}|{tmp / f'bare-ss{i}'}"
            ),
            "null": lambda i: harness_run(
                tmp, f"null{i}", "Offline", offline, MODEL, name="null", **backend
            ),
            "raw_heavy": lambda i: measure_in_child("raw", f"Offline|{shape}|{heavy}"),
            "ort_heavy": lambda i: harness_run(
                tmp,
                f"heavy{i}",
                "Offline",
                heavy_offline,
                heavy,
                name="onnxruntime",
                workers=1,
                **backend,
            ),
            "ort_heavy_auto": lambda i: harness_run(
                tmp, f"heavyN{i}", "Offline", heavy_offline, heavy, name="onnxruntime", **backend
            ),
            "raw_off": lambda i: measure_in_child("raw", f"Offline|{shape}|{MODEL}"),
            "ort_one": lambda i: harness_run(
                tmp,
                f"ort1{i}",
                "Offline",
                offline,
                MODEL,
                name="onnxruntime",
                workers=1,
                **backend,
            ),
            "raw_ss": lambda i: measure_in_child("raw", f"SingleStream|{shape}|{MODEL}"),
            "ort_ss": lambda i: harness_run(
                tmp, f"ortss{i}", "SingleStream", stream, MODEL, name="onnxruntime", **backend
            ),
        }
        for i in range(a.repeat):
            for key, measure in plan.items():
                runs.setdefault(key, []).append(measure(i))
    for doc in runs["ort_ss"]:
        doc["p90"] = doc["latency_ns"]["p90"]
    bare_off, null = (
        best(runs["bare_off"], "samples_per_second"),
        best(runs["null"], "samples_per_second"),
    )
    raw_heavy = best(runs["raw_heavy"], "samples_per_second")
    ort_heavy = best(runs["ort_heavy"], "samples_per_second")
    ort_heavy_auto = best(runs["ort_heavy_auto"], "samples_per_second")
    raw_off, ort_one = (
        best(runs["raw_off"], "samples_per_second"),
        best(runs["ort_one"], "samples_per_second"),
    )
    raw_ss, bare_ss, ort_ss = (
        best(runs["raw_ss"], "p90"),
        best(runs["bare_ss"], "p90"),
        best(runs["ort_ss"], "p90"),
    )

    print(
        f"harness overhead · batch {a.batch} · threads {a.threads} · "
        f"min_duration {a.duration_ms} ms · best of {a.repeat}"
    )
    rows = [
        ("bare LoadGen, minimal SUT, Offline", bare_off, "samples/s"),
        ("harness, null backend, Offline", null, "samples/s"),
        ("raw session, MLP 64-1024-1024-10", raw_heavy, "samples/s"),
        ("harness, onnxruntime, 1 worker, same MLP", ort_heavy, "samples/s"),
        ("harness, onnxruntime, default workers, same MLP", ort_heavy_auto, "samples/s"),
        ("raw session, digits-mlp", raw_off, "samples/s"),
        ("harness, onnxruntime, 1 worker, digits-mlp", ort_one, "samples/s"),
    ]
    for label, value, unit in rows:
        print(f"  {label:<48} {value:>12,.0f} {unit}")
    for label, value in (
        ("raw session.run of 1 digits sample, p90", raw_ss),
        ("bare LoadGen, minimal SUT, SingleStream p90", bare_ss),
        ("harness, onnxruntime, SingleStream p90", ort_ss),
    ):
        print(f"  {label:<48} {value / 1e3:>12.2f} us")
    print()
    r1 = null / bare_off
    _ratio("1. Offline: harness (null backend) / bare LoadGen", r1, ">= 0.9", r1 >= 0.9)
    r2 = ort_heavy / raw_heavy
    _ratio("2. Offline: harness (onnxruntime) / raw backend", r2, ">= 0.95", r2 >= 0.95)
    print(f"   (digits-mlp, bound by LoadGen's cost per sample: {ort_one / raw_off:.3f})")
    added = (ort_ss - raw_ss) / 1e3
    _ratio("3. SingleStream: p90 added over a raw call (us)", added, "<= 20", added <= 20)
    print(f"   (bare LoadGen alone: {bare_ss / 1e3:.2f} us p90)")


if __name__ == "__main__":
    main()
