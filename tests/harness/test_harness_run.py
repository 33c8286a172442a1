"""The harness end to end, run as `mlenv run` runs it: LoadGen's logs and our result files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_testing import SAMPLES, RunHarness, true_classes

# the seed LoadGen's built-in mlperf.conf sets: present only when that file was applied
MLPERF_CONF_QSL_SEED = 2085463073848966840
RESULT_KEYS = [
    "version",
    "benchmark",
    "dataset",
    "scenario",
    "mode",
    "valid",
    "samples_per_second",
    "latency_ns",
    "lock",
    "target",
    "backend",
    "settings",
    "samples",  # the count used (CONTRACTS §11)
    "benchmark_config",  # the knobs used; nothing calibrated here (CONTRACTS §11)
    "model",  # bytes and parameters
    "window_ns",  # LoadGen's timed window (time.monotonic_ns): mlenv reads the meters around it
]
SETTINGS: dict[str, dict[str, float]] = {
    # Offline: one query of target_qps * min_duration * 1.1 = 55000 samples, > 10 ms anywhere
    "Offline": {"min_duration": 10, "target_qps": 5_000_000},
    # stream scenarios: an expected latency below the real one, so LoadGen never runs out of
    # queries; target_qps does not apply to them and is left out of user.conf
    "SingleStream": {
        "min_duration": 200,
        "min_query_count": 100,
        "target_latency": 0.005,
        "target_qps": 1000,
    },
    "MultiStream": {"min_duration": 100, "min_query_count": 100, "target_latency": 0.01},
    # Server: queries at random times, 2000 a second, all well within 50 ms
    "Server": {
        "min_duration": 300,
        "min_query_count": 100,
        "target_latency": 50,
        "target_qps": 2000,
    },
}
APPLIED = {
    name: {k: v for k, v in settings.items() if k != "target_qps" or name in ("Offline", "Server")}
    for name, settings in SETTINGS.items()
}
SCENARIOS = list(SETTINGS)


def _run(run_harness: RunHarness, config: dict[str, Any], scenario: str, mode: str) -> Any:
    config.update(scenario=scenario, mode=mode, settings=SETTINGS[scenario])
    run = run_harness(config)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    return run


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_performance(run_harness: RunHarness, base_config: dict[str, Any], scenario: str) -> None:
    run = _run(run_harness, base_config, scenario, "performance")
    detail = run.detail()
    summary = run.read("mlperf_log_summary.txt")
    result = run.result()

    applied = APPLIED[scenario]
    assert run.read("user.conf").splitlines() == [
        f"digits-mlp.{scenario}.{key} = {value}" for key, value in sorted(applied.items())
    ]
    assert detail["requested_min_duration_ms"] == SETTINGS[scenario]["min_duration"]
    assert detail["requested_qsl_rng_seed"] == MLPERF_CONF_QSL_SEED
    assert detail["effective_scenario"] == scenario
    assert detail["effective_test_mode"] == "PerformanceOnly"
    assert detail["result_validity"] == "VALID"
    assert "Result is : VALID" in summary
    assert not (run.output_dir / "mlperf_log_trace.json").exists()

    assert (run.output_dir / "latency_histogram.svg").is_file()
    assert list(result) == RESULT_KEYS
    assert result["valid"] is True
    assert result["settings"] == applied
    assert result["samples"] == SAMPLES
    chosen = result["benchmark_config"]
    assert chosen.pop("workers") >= 1  # the warm-up rule sizes the pool (1 for streams)
    assert chosen == {
        "threads": 1,
        "max-batch": 64,
        "max-delay-us": 100,
        "calibrated": False,
        "calibrated_keys": [],
        "probe_seconds": 0.0,
    }
    size = Path(base_config["model"]["path"]).stat().st_size
    assert result["model"] == {"bytes": size, "parameters": 640}  # the 64 x 10 MatMul weights
    assert result["backend"]["name"] == "onnxruntime" and result["backend"]["version"]
    assert result["target"] == base_config["target"]
    assert result["lock"] == base_config["lock"]
    latency = result["latency_ns"]
    assert latency == {
        "p50": detail["result_50.00_percentile_latency_ns"],
        "p90": detail["result_90.00_percentile_latency_ns"],
        "p99": detail["result_99.00_percentile_latency_ns"],
    }
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
    if scenario == "Offline":
        assert detail["effective_samples_per_query"] == 55_000
        assert detail["result_query_count"] == 1
        assert result["samples_per_second"] == detail["result_samples_per_second"]
    elif scenario == "Server":
        assert detail["result_query_count"] >= 100
        assert result["samples_per_second"] == detail["result_completed_samples_per_sec"]
    else:
        if scenario == "SingleStream":
            assert "setting target_qps does not apply to SingleStream" in run.stderr
        assert detail["result_query_count"] >= 100
        assert result["samples_per_second"] == pytest.approx(1e9 / detail["result_mean_latency_ns"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_accuracy(run_harness: RunHarness, base_config: dict[str, Any], scenario: str) -> None:
    run = _run(run_harness, base_config, scenario, "accuracy")
    detail = run.detail()
    result = run.result()

    assert detail["effective_test_mode"] == "AccuracyOnly"
    good = SAMPLES * 3 // 4
    assert run.read("accuracy.txt") == (
        f"accuracy=75.000%, good={good}, total={SAMPLES}\ntop1 = 0.7500 ({good}/{SAMPLES})\n"
    )
    assert result["accuracy"] == {"top1": 0.75}
    assert result["valid"] is True
    assert result["samples_per_second"] is None
    assert result["latency_ns"] == {"p50": None, "p90": None, "p99": None}

    entries = json.loads(run.read("mlperf_log_accuracy.json"))
    logged = {e["qsl_idx"]: np.frombuffer(bytes.fromhex(e["data"]), dtype="<i4") for e in entries}
    assert sorted(logged) == list(range(SAMPLES))
    assert [int(v[0]) for _, v in sorted(logged.items())] == true_classes().tolist()


def test_batches_split_and_loads_in_parts(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    """Accuracy with a performance sample count below the dataset: LoadGen loads, unloads and
    loads again; a batch size that does not divide the query still answers every sample."""
    base_config["data"]["performance_sample_count"] = 30
    base_config["backend"]["max_batch"] = 7
    run = _run(run_harness, base_config, "Offline", "accuracy")
    assert run.result()["accuracy"] == {"top1": 0.75}
    assert run.read("mlperf_log_detail.txt").count('"key": "loaded_qsl_set"') == -(-SAMPLES // 30)
