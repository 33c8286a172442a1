"""The real digits example shared and reproduced (needs PyPI once, for the first resolve/run).

One module-scoped project is resolved, run with short durations and packed in one MLENV_HOME;
the bundle is then reproduced in a fresh empty MLENV_HOME with every socket beyond 127.0.0.1
refused, and a copy with one changed byte is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
FAST = ["--set", "min_duration=300", "--set", "SingleStream.target_latency=0.005"]
# A 300 ms measurement on a shared CI machine moves by tens of percent from run to run; this
# test checks the whole path (offline install, re-run, compare, report). The tolerance rule
# itself is checked exactly in test_share_report.py.
CI_TOLERANCE = "200"

pytestmark = pytest.mark.network


def _environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLENV_", "UV_"))}
    env.update({"MLENV_HOME": str(home), "COLUMNS": "200"})
    return env


def mlenv(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _run_results(doc: Any) -> list[dict[str, Any]]:
    """The result.json documents of `mlenv run --json` (in the envelope's data)."""
    data = doc["data"] if isinstance(doc, dict) and "command" in doc else doc
    return list(data["results"] if isinstance(data, dict) else data)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("share-digits")
    project = root / "digits"
    project.mkdir()
    shutil.copy(EXAMPLE / "mlenv.yaml", project / "mlenv.yaml")
    env = _environ(root / "home")
    for args in (("resolve",), ("run", *FAST, "--json")):
        done = mlenv(project, env, *args)
        assert done.returncode == 0, done.stderr
    results = _run_results(json.loads(done.stdout))
    pack = mlenv(project, env, "pack", "-o", str(root / "digits.tar"), "--json")
    assert pack.returncode == 0, pack.stderr
    assert json.loads(pack.stdout)["data"]["results"] == len(results)
    return {"project": project, "bundle": root / "digits.tar", "results": results, "root": root}


def test_reproduced_offline_in_a_fresh_home(
    packed: dict[str, Any], tmp_path: Path, guard: Any
) -> None:
    fresh = tmp_path / "home"
    fresh.mkdir()
    env = guard.environ(_environ(fresh))
    out = tmp_path / "reproduction"
    done = mlenv(
        tmp_path, env, "reproduce", str(packed["bundle"]), "--tolerance", CI_TOLERANCE, "--json"
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["command"] == "reproduce" and doc["ok"] is True, doc
    verdict = doc["data"]
    assert {k: v["awarded"] for k, v in verdict["badges"].items()} == {
        "available": True,
        "functional": True,
        "reproduced": True,
    }, verdict
    guard.assert_offline()
    assert list(fresh.iterdir()) == [], "the reproduction used its own MLENV_HOME"
    # the same environment, file for file
    original = next((packed["project"] / ".mlenv" / "envs").iterdir()) / "env.json"
    again = Path(verdict["paths"]["environment"]) / "env.json"
    assert json.loads(again.read_text()) == json.loads(original.read_text())
    assert verdict["environment_differences"] == []
    # the same accuracy, figure for figure, and every recorded run re-run
    recorded = {(r["scenario"], r["mode"]): r for r in packed["results"]}
    rerun = {}
    for result in (out / "results").glob("**/result.json"):
        doc = json.loads(result.read_text())
        rerun[(doc["scenario"], doc["mode"])] = doc
    assert set(rerun) == set(recorded)
    for key, doc in recorded.items():
        # what the recorded run's calibration chose is chosen again here; the rest is the same
        chosen = set((doc.get("benchmark_config") or {}).get("calibrated_keys") or ())
        chosen |= set((rerun[key].get("benchmark_config") or {}).get("calibrated_keys") or ())
        kept = {k: v for k, v in doc["settings"].items() if k not in chosen}
        assert {k: v for k, v in rerun[key]["settings"].items() if k not in chosen} == kept
        assert rerun[key]["lock"] == doc["lock"]
        if key[1] == "accuracy":
            assert rerun[key]["accuracy"] == doc["accuracy"]
    judged = [f for f in verdict["figures"] if f["metric"] == "samples_per_second"]
    assert len(judged) == 2 and all(isinstance(f["delta_pct"], float) for f in judged)
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 3 and "reproduced" in page
    assert "src=" not in page and "<link" not in page and "https://" not in page
    assert "| reproduced | **yes** |" in (out / "report.md").read_text()


def test_one_changed_byte_in_the_digits_bundle_is_refused(
    packed: dict[str, Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "digits.tar"
    shutil.copy(packed["bundle"], bundle)
    with tarfile.open(bundle) as tar:
        model = next(m for m in tar.getmembers() if m.name.endswith(".onnx"))
    with bundle.open("r+b") as f:
        f.seek(model.offset_data + 100)
        byte = f.read(1)
        f.seek(model.offset_data + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    done = mlenv(tmp_path, _environ(tmp_path / "home"), "reproduce", str(bundle))
    assert done.returncode == 1
    text = " ".join(done.stderr.split())
    assert "error:" in text and "Traceback" not in text
    assert model.name in text and "expected sha256" in text and "got sha256" in text
    assert not (tmp_path / "reproduction" / "home").exists()
