"""Calibration, subsets and model size (CONTRACTS §11), with real LoadGen and onnxruntime.

With every knob left to the harness and only ``min_duration`` set, each scenario of the
digits-shaped model is VALID run after run; what the probe chose is in ``benchmark_config``
and in the effective user.conf, and the probe stays within its budget.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_testing import SAMPLES, RunHarness, make_digits
from onnx import TensorProto, helper, numpy_helper

from mlenv.harness.config import RunConfig
from mlenv.harness.errors import HarnessError
from mlenv.harness.modelinfo import model_bytes, onnx_parameters

BUDGET_S = 0.5
SLACK_S = 0.5  # one call past the deadline, and the clock around it
REPEATS = 3
ALL = {"max-batch": True, "workers": True, "threads": True, "expected": True}
EXPECTED_KEY = {
    "SingleStream": "target_latency",
    "MultiStream": "target_latency",
    "Server": "target_qps",
    "Offline": "target_qps",
}


def _calibrated(config: dict[str, Any], scenario: str) -> dict[str, Any]:
    config = copy.deepcopy(config)
    config.update(
        scenario=scenario,
        settings={"min_duration": 200},
        calibrate=dict(ALL),
        probe_budget_s=BUDGET_S,
    )
    config["backend"].update(threads=0, max_batch=1024)
    return config


@pytest.mark.parametrize("scenario", list(EXPECTED_KEY))
def test_every_scenario_is_valid_with_only_min_duration_set(
    run_harness: RunHarness, base_config: dict[str, Any], scenario: str
) -> None:
    config = _calibrated(base_config, scenario)
    for _ in range(REPEATS):
        run = run_harness(config)
        assert run.returncode == 0, run.stderr
        result = run.result()
        assert result["valid"] is True, run.read("mlperf_log_summary.txt")
        chosen = result["benchmark_config"]
        assert chosen["calibrated"] is True
        key = EXPECTED_KEY[scenario]
        assert key in chosen["calibrated_keys"]
        assert result["settings"][key] > 0 and result["settings"]["min_duration"] == 200
        assert f"digits-mlp.{scenario}.{key} = " in run.read("user.conf")
        assert 0 < chosen["probe_seconds"] <= BUDGET_S + SLACK_S
        assert "calibrated in" in run.stderr
        if scenario in ("Offline", "Server"):
            assert "max-batch" in chosen["calibrated_keys"]
            assert 1 <= chosen["max-batch"] <= SAMPLES
        else:
            assert chosen["max-batch"] == 1024 and chosen["workers"] == 1
        assert result["samples"] == SAMPLES


def test_nothing_to_calibrate_keeps_todays_run(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    run = run_harness(base_config)  # no calibrate key: nothing may be chosen
    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["settings"] == base_config["settings"]
    assert result["benchmark_config"]["calibrated"] is False
    assert result["benchmark_config"]["calibrated_keys"] == []
    assert result["benchmark_config"]["probe_seconds"] == 0.0
    assert result["benchmark_config"]["max-batch"] == 64
    assert "calibrated in" not in run.stderr


def test_settings_the_user_gave_are_not_calibrated(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    config = _calibrated(base_config, "SingleStream")
    config["settings"].update(target_latency=0.005, min_query_count=100)
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["settings"]["target_latency"] == 0.005
    assert result["benchmark_config"]["calibrated"] is False
    assert result["benchmark_config"]["calibrated_keys"] == []


def test_accuracy_mode_never_probes(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    config = _calibrated(base_config, "Offline")
    config["mode"] = "accuracy"
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["accuracy"] == {"top1": 0.75}
    assert result["benchmark_config"]["calibrated"] is False
    assert result["benchmark_config"]["max-batch"] == 1024


def test_a_subset_runs_on_the_first_samples(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    config = copy.deepcopy(base_config)
    config.update(samples=8, mode="accuracy")
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    assert run.result()["samples"] == 8
    assert run.read("accuracy.txt").endswith("top1 = 0.7500 (6/8)\n")  # labels 0 and 4 are off
    detail = run.detail()
    assert detail["qsl_reported_total_count"] == 8
    assert detail["qsl_reported_performance_count"] == 8


def test_a_subset_needs_only_its_samples(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    """The recipe says 50,000; the folder holds 20: with samples 20 it runs."""
    config = copy.deepcopy(base_config)
    config["data"].update(
        path=str(make_digits(tmp_path / "few.csv.gz", 20)),
        samples=50_000,
        performance_sample_count=1024,
    )
    config.update(samples=20)
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["samples"] == 20 and result["valid"] is True
    assert run.detail()["qsl_reported_performance_count"] == 20


def test_fewer_samples_than_the_recipe_says_is_a_clear_error(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    config = copy.deepcopy(base_config)
    config["data"].update(samples=500, performance_sample_count=500)
    run = run_harness(config)
    assert run.returncode == 1
    line = run.error_line()
    assert line.startswith("error: dataset ")
    assert "has 200 rows, the dataset recipe says 500 samples" in line
    assert "mlenv run --samples 200" in line
    assert "Traceback" not in run.stderr


def test_the_run_config_declares_the_new_keys(base_config: dict[str, Any]) -> None:
    doc = copy.deepcopy(base_config)
    doc.update(calibrate={"max-batch": True, "expected": True}, samples=8, probe_budget_s=1.5)
    config = RunConfig.from_dict(doc, source="run config")
    assert config.calibrate.max_batch and config.calibrate.expected
    assert not config.calibrate.workers and not config.calibrate.threads
    assert (config.samples, config.probe_budget_s) == (8, 1.5)
    assert config.data_used.samples == 8 and config.data_used.performance_sample_count == 8
    again = RunConfig.from_dict(config.to_dict(), source="run config")
    assert again == config
    plain = RunConfig.from_dict(base_config, source="run config")
    assert not plain.calibrate.any() and plain.samples is None and plain.probe_budget_s == 3.0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"samples": 0}, "samples: expected an integer >= 1"),
        ({"samples": SAMPLES + 1}, f"samples: {SAMPLES + 1} is more than the dataset recipe's"),
        ({"probe_budget_s": 0}, "probe_budget_s: expected a number > 0"),
        ({"calibrate": {"max-batch": 1}}, "calibrate.max-batch: expected true or false"),
        ({"calibrate": {"batch": True}}, "calibrate.batch: unknown key"),
    ],
)
def test_bad_new_keys_are_refused(
    base_config: dict[str, Any], change: dict[str, Any], needle: str
) -> None:
    doc = {**copy.deepcopy(base_config), **change}
    with pytest.raises(HarnessError) as caught:
        RunConfig.from_dict(doc, source="run config")
    assert needle in caught.value.what


def test_onnx_parameters_count_every_initializer_element(tmp_path: Path) -> None:
    weights = [np.ones((3, 4, 5), dtype=np.float32), np.ones((7,), dtype=np.float32)]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "b"], ["y"]),
            helper.make_node("Identity", ["w"], ["z"]),
        ],
        "g",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [7])],
        outputs=[
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [7]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [3, 4, 5]),
        ],
        initializer=[
            numpy_helper.from_array(weights[0], name="w"),
            numpy_helper.from_array(weights[1], name="b"),
        ],
    )
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert onnx_parameters(path) == 3 * 4 * 5 + 7
    assert model_bytes(path) == path.stat().st_size
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xff\xff")
    assert onnx_parameters(tmp_path / "junk.onnx") is None
