"""Fixtures of the harness tests (helpers in harness_testing.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from harness_testing import (
    HARNESS,
    PACKAGE,
    RUN_TIMEOUT_S,
    SAMPLES,
    Run,
    RunHarness,
    import_harness,
    launch_command,
    make_digits,
    make_model,
)

import_harness()


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("assets")
    launcher = root / "launcher"
    launcher.mkdir()
    (launcher / PACKAGE).symlink_to(HARNESS, target_is_directory=True)
    return {
        "launcher": launcher,
        "model": make_model(root / "pick.onnx"),
        "data": make_digits(root / "digits.csv.gz"),
    }


@pytest.fixture
def base_config(assets: dict[str, Path], tmp_path: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "benchmark": "digits-mlp",
        "dataset": "digits",
        "scenario": "Offline",
        "mode": "performance",
        "output_dir": str(tmp_path / "results" / "run_1"),
        "model": {
            "path": str(assets["model"]),
            "format": "onnx",
            "inputs": [{"name": "input", "shape": [-1, 64], "dtype": "float32"}],
            "outputs": [{"name": "logits", "shape": [-1, 10], "dtype": "float32"}],
        },
        "data": {
            "path": str(assets["data"]),
            "samples": SAMPLES,
            "performance_sample_count": SAMPLES,
            "preprocess": {"name": "digits", "params": {"scale": 16}},
            "metric": "top1",
        },
        "backend": {"name": "onnxruntime", "version": None, "threads": 1, "max_batch": 64},
        "settings": {"min_duration": 10, "target_qps": 5_000_000},
        "lock": "sha256:" + "0" * 64,
        "target": {"name": "test-target", "facts": {"os": "linux"}},
    }


@pytest.fixture
def run_harness(assets: dict[str, Path], tmp_path: Path) -> RunHarness:
    def run(config: dict[str, Any], *, launcher: Path | None = None, text: str = "") -> Run:
        path = tmp_path / "run.json"
        path.write_text(text or json.dumps(config), encoding="utf-8")
        done = subprocess.run(
            launch_command(launcher or assets["launcher"], path),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr, Path(config["output_dir"]))

    return run
