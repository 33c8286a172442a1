"""Issue 12's "done when": the digits example, with its defaults (the quick profile, calibrated),
is VALID in every scenario, ten times in a row (needs PyPI once, for the locked wheels).

Each of the ten `mlenv run`s measures all four LoadGen scenarios in performance mode; nothing is
set beyond the example's own manifest. An INVALID run fails the test with LoadGen's own reason
(`mlperf_log_summary.txt`) and what calibration chose (`benchmark_config`, the settings).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import localpypi as H
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
TIMES = 10

pytestmark = pytest.mark.network


def mlenv(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return H.run_mlenv_at(project, home, *args, extra={"MLENV_HOST_CUDA": "none"})


def _why_invalid(project: Path, doc: dict[str, Any]) -> str:
    """LoadGen's summary of an INVALID run, with what calibration chose."""
    [summary] = project.glob(f"results/*/*/{doc['scenario']}/performance/run_1/*summary.txt")
    lines = summary.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if "INVALID" in line or "not met" in line or "*" in line]
    kept += [line for line in lines if "Recommendations" in line or line.startswith(" *")]
    return "\n".join(
        [
            f"{doc['scenario']}: INVALID",
            *dict.fromkeys(kept),
            f"settings: {json.dumps(doc.get('settings'))}",
            f"benchmark_config: {json.dumps(doc.get('benchmark_config'))}",
        ]
    )


def test_the_digits_example_is_valid_in_every_scenario_ten_times(tmp_path: Path) -> None:
    project = tmp_path / "digits"
    shutil.copytree(EXAMPLE, project)
    home = tmp_path / "home"
    resolved = mlenv(project, home, "resolve")
    assert resolved.returncode == 0, resolved.stderr
    args = ["run", "--json", "--mode", "performance"]
    for scenario in SCENARIOS:
        args += ["--scenario", scenario]
    failures: list[str] = []
    for i in range(TIMES):
        started = time.monotonic()
        run = mlenv(project, home, *args)
        envelope = json.loads(run.stdout) if run.stdout.strip() else {}
        docs = envelope.get("data") or []
        assert {d["scenario"] for d in docs} == set(SCENARIOS), run.stderr
        invalid = [d for d in docs if d["valid"] is not True]
        for doc in docs:
            assert doc["profile"] == "quick" and doc["benchmark_config"]["calibrated"] is True
        failures += [f"run {i + 1} of {TIMES}: " + _why_invalid(project, d) for d in invalid]
        print(f"run {i + 1}: {time.monotonic() - started:.1f} s, {len(invalid)} INVALID")
        # exit 1 only for an INVALID run (CONTRACTS §9): any other failure ends the test here
        assert run.returncode == (1 if invalid else 0), run.stderr
    assert not failures, "\n\n".join(failures)
