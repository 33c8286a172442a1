"""Failures a user can cause: one `error:` line on stderr, exit status 1, no traceback."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness_testing import HARNESS, PACKAGE, RunHarness

Mutation = Callable[[dict[str, Any], Path], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(config: dict[str, Any], tmp: Path) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value

    return mutate


def _scenario(name: str, settings: dict[str, Any]) -> Mutation:
    def mutate(config: dict[str, Any], tmp: Path) -> None:
        config["scenario"] = name
        config["settings"] = settings

    return mutate


def _data_file(content: bytes, *, compress: bool) -> Mutation:
    def mutate(config: dict[str, Any], tmp: Path) -> None:
        path = tmp / "bad.csv.gz"
        path.write_bytes(gzip.compress(content) if compress else content)
        config["data"]["path"] = str(path)

    return mutate


CASES: dict[str, tuple[Mutation, str]] = {
    "input name": (
        _set("model.inputs.0.name", "pixels"),
        "declared input(s) ['pixels'], the model has ['input']",
    ),
    "input dtype": (
        _set("model.inputs.0.dtype", "float16"),
        "input input is declared float16 [-1, 64], the model has float32 [-1, 64]",
    ),
    "output name": (_set("model.outputs.0.name", "probs"), "declared output(s) ['probs']"),
    "model file": (_set("model.path", "/nonexistent/model.onnx"), "does not exist"),
    "preprocessor": (
        _set("data.preprocess.name", "imagenet"),
        "unknown preprocessor 'imagenet' (hint: check the dataset recipe's preprocess.name",
    ),
    "preprocessor param": (_set("data.preprocess.params", {"mean": 1}), "unknown parameter"),
    "metric": (_set("data.metric", "bleu"), "unknown metric 'bleu'"),
    "backend": (_set("backend.name", "tensorrt"), "unknown backend 'tensorrt'"),
    "scenario": (_set("scenario", "Streaming"), "scenario: 'Streaming' is not one of"),
    "mode": (_set("mode", "submission"), "mode: 'submission' is not one of"),
    "setting key": (_set("settings", {"min_durration": 5}), "min_durration: not a LoadGen"),
    "setting value": (_set("settings", {"min_duration": "fast"}), "expected a number >= 0"),
    "setting integer": (_set("settings", {"min_query_count": 2.5}), "expected an integer"),
    "setting mode": (_set("settings", {"mode": 2}), "chosen by the harness"),
    "setting seed": (_set("settings", {"qsl_rng_seed": 1}), "only from its built-in mlperf.conf"),
    # values LoadGen would accept and then wait on for ever
    "server qps 0": (
        _scenario("Server", {"target_qps": 0}),
        "settings: target_qps: expected a number > 0, found 0",
    ),
    "stream latency 0": (
        _scenario("SingleStream", {"target_latency": 0}),
        "target_latency: expected a number > 0",
    ),
    "samples per query 0": (
        _scenario("MultiStream", {"samples_per_query": 0}),
        "samples_per_query: expected a number > 0",
    ),
    "override beyond the data": (
        _set("settings", {"performance_sample_count_override": 201}),
        "performance_sample_count_override: 201 is more than the dataset's 200 samples",
    ),
    "max below min duration": (
        _set("settings", {"min_duration": 100, "max_duration": 50}),
        "max_duration (50 ms) is below min_duration (100 ms)",
    ),
    "workers": (_set("backend.workers", -1), "backend.workers: expected an integer >= 0"),
    "compliance test": (
        _set("compliance", {"test": "TEST05", "reference_dir": "/x"}),
        "compliance.test: 'TEST05' is not one of TEST01, TEST04",
    ),
    "model inputs vs data": (
        _set("model.inputs.0.shape", [-1, 32]),
        "input input is declared float32 [-1, 32], the model has float32 [-1, 64]",
    ),
    "version": (_set("version", 2), "this harness reads version 1"),
    "relative path": (_set("output_dir", "results/run_1"), "expected an absolute path"),
    "unknown key": (_set("data.labels", "x"), "data.labels: unknown key"),
    "too few rows": (
        _set("data.samples", 500),
        "has 200 rows, the dataset recipe says 500 samples",
    ),
    "missing dataset": (_set("data.path", "/nonexistent/digits.csv.gz"), "does not exist"),
    "not gzip": (_data_file(b"1,2,3\n", compress=False), "cannot read it as a digits csv.gz"),
    "not numbers": (_data_file(b"a,b,c\n", compress=True), "cannot read it as a digits csv.gz"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_error(
    case: str, run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    mutate, message = CASES[case]
    mutate(base_config, tmp_path)
    run = run_harness(base_config)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.error_line().startswith("error: ")
    assert message in run.error_line()
    assert sum(line.startswith("error:") for line in run.stderr.splitlines()) == 1


def test_missing_backend_module(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    """An environment without onnxruntime: a module of that name that cannot be imported."""
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    (launcher / PACKAGE).symlink_to(HARNESS)
    (launcher / "onnxruntime.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'onnxruntime'\", name='onnxruntime')\n"
    )
    run = run_harness(base_config, launcher=launcher)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_line() == (
        "error: backend onnxruntime needs the Python module onnxruntime, which is not installed "
        "in this environment (hint: add onnxruntime to the manifest's requires, then run "
        "`mlenv install`)"
    )


def test_config_not_json(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    run = run_harness(base_config, text='{"version": 1,\n "benchmark": }')
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_line().startswith("error: run config ")
    assert run.error_line().endswith("run.json:2:15: not valid JSON: Expecting value")


def test_many_problems_in_one_message(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    base_config["scenario"] = "Streaming"
    base_config["backend"]["max_batch"] = 0
    del base_config["dataset"]
    run = run_harness(base_config)
    assert run.returncode == 1
    line = run.error_line()
    assert "dataset: missing" in line
    assert "scenario: 'Streaming'" in line
    assert "backend.max_batch: expected an integer >= 1, found 0" in line
