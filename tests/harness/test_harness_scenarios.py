"""Server, the worker pool, the QSL cache, compliance tests, progress and the histogram."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from harness_testing import RUN_TIMEOUT_S, SAMPLES, RunHarness, launch_command

SERVER = {"min_duration": 300, "target_qps": 2000, "target_latency": 50, "min_query_count": 100}


def _ok(run: Any) -> Any:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    return run


def test_server_histogram(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    base_config.update(scenario="Server", settings=SERVER)
    run = _ok(run_harness(base_config))
    detail = run.detail()
    assert detail["result_validity"] == "VALID"
    svg = ET.fromstring((run.output_dir / "latency_histogram.svg").read_bytes())
    title = svg.findtext("{http://www.w3.org/2000/svg}title") or ""
    assert title == f"digits-mlp Server latency · {detail['result_query_count']} samples"
    accuracy = _ok(run_harness({**base_config, "mode": "accuracy"}))
    assert not (accuracy.output_dir / "latency_histogram.svg").exists()


def test_offline_worker_pool(run_harness: RunHarness, base_config: dict[str, Any]) -> None:
    """Two workers share the Offline query in batches of 7: every sample answered right."""
    base_config["backend"].update(workers=2, max_batch=7)
    base_config["mode"] = "accuracy"
    run = _ok(run_harness(base_config))
    assert "(2 workers, batches of up to 7)" in run.stderr
    assert run.result()["accuracy"] == {"top1": 0.75}


def test_qsl_cache(run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base_config.update(mode="accuracy", cache_dir=str(cache))
    first = _ok(run_harness(base_config))
    assert "preprocessed 200 samples into the cache" in first.stderr
    (entry,) = cache.iterdir()
    assert sorted(p.name for p in entry.iterdir()) == ["input_0.npy", "labels.npy", "meta.json"]
    assert np.load(entry / "input_0.npy", mmap_mode="r").shape == (SAMPLES, 64)
    second = _ok(run_harness(base_config))
    assert "preprocessed samples from the cache" in second.stderr
    assert second.result()["accuracy"] == first.result()["accuracy"]
    base_config["data"]["preprocess"]["params"] = {"scale": 8}  # another key
    _ok(run_harness(base_config))
    assert len(list(cache.iterdir())) == 2


def _reference_runs(run_harness: RunHarness, config: dict[str, Any], base: Path) -> None:
    for mode, folder in (
        ("performance", base / "performance" / "run_1"),
        ("accuracy", base / "accuracy"),
    ):
        _ok(run_harness({**config, "mode": mode, "output_dir": str(folder)}))


def test_compliance(run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path) -> None:
    base = tmp_path / "results" / "Offline"
    base_config["settings"] = {"min_duration": 50, "target_qps": 2_000_000}
    _reference_runs(run_harness, base_config, base)
    for test in ("TEST01", "TEST04"):
        config = {
            **base_config,
            "output_dir": str(base / test),
            "compliance": {"test": test, "reference_dir": str(base)},
        }
        run = _ok(run_harness(config))
        detail = run.detail()
        result = run.result()
        audit = (base / test / "audit.config").read_text()
        assert "*.*.mode = 2" in audit
        assert result["compliance"]["test"] == test
        checks = result["compliance"]["checks"]
        performance = checks["performance"]
        assert performance["reference"] > 0 and performance["test"] > 0
        assert (base / test / "verify_performance.txt").read_text().splitlines()[-1] in (
            "TEST PASS",
            "TEST FAIL",
        )
        if test == "TEST01":
            assert detail["effective_accuracy_log_sampling_target"] == 1024
            assert checks["accuracy"]["pass"] is True
            assert checks["accuracy"]["mismatched"] == 0 and checks["accuracy"]["compared"] > 0
            assert (base / test / "verify_accuracy.txt").read_text().endswith("TEST PASS\n")
        else:
            assert detail["effective_performance_issue_same"] is True
            assert detail["effective_performance_issue_same_index"] == 3
            assert set(checks) == {"performance"}


def test_compliance_needs_reference_runs(
    run_harness: RunHarness, base_config: dict[str, Any], tmp_path: Path
) -> None:
    base_config["compliance"] = {"test": "TEST01", "reference_dir": str(tmp_path / "none")}
    run = run_harness(base_config)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.error_line().startswith("error: TEST01 compares with runs that are missing: ")
    assert "hint: run the performance and accuracy modes of this scenario first" in run.stderr


def test_progress_is_one_line_off_a_terminal(
    run_harness: RunHarness, base_config: dict[str, Any]
) -> None:
    run = _ok(run_harness(base_config))
    lines = [line for line in run.stderr.splitlines() if " · " in line]
    assert len(lines) == 1 and lines[0].startswith("harness: Offline performance · ")
    assert "of >= 0.0 s" in lines[0] and "\r" not in run.stderr


def test_progress_redraws_on_a_terminal(
    base_config: dict[str, Any], assets: dict[str, Path], tmp_path: Path
) -> None:
    base_config.update(scenario="SingleStream")
    base_config["settings"] = {
        "min_duration": 1200,
        "min_query_count": 100,
        "target_latency": 0.005,
    }
    config = tmp_path / "run.json"
    config.write_text(json.dumps(base_config))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        launch_command(assets["launcher"], config), stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, seen.decode(errors="replace")
    redraws = seen.count(b"\r\x1b[2Kharness: SingleStream performance")
    assert 3 <= redraws <= 4 * 1.2 * 2 + 4  # about 4 a second, and a final line


def test_watchdog_ends_a_hung_test() -> None:
    import io

    from mlenv_harness.loadgen.progress import Progress

    messages: list[str] = []
    stream = io.StringIO()
    progress = Progress(
        lambda: (5, 2),  # 3 samples due, none ever completing
        stream=stream,
        label="Offline performance",
        min_duration_s=1.0,
        expected_samples=None,
        watchdog_s=0.3,
        live=False,
        on_hang=messages.append,
    )
    with progress:
        time.sleep(0.9)
    assert messages and messages[0].startswith(
        "error: no sample completed in 0.3 s while 3 were due"
    )
    assert stream.getvalue().startswith(
        "harness: Offline performance · 0.9 s of >= 1.0 s · 2 samples"
    )
