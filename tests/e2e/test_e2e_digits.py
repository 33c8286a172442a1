"""The README's main command, end to end, on the real digits example (needs PyPI once).

One module-scoped project is resolved and run; the tests then check what a new user would:
the lock is deterministic and gated, the table and results/ follow CONTRACTS §8, a second run
needs no network, the env sees only its own packages, and the model rebuilds byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "digits"
FAST = ["--set", "min_duration=300", "--set", "SingleStream.target_latency=0.005"]
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there: any network use fails at once

pytestmark = pytest.mark.network


def mlenv(
    project: Path, home: Path, *args: str, offline_net: bool = False
) -> subprocess.CompletedProcess[str]:
    extra = {"COLUMNS": "160"}
    if offline_net:
        proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
        extra.update({name: DEAD_PROXY for name in proxies}, NO_PROXY="")
    return H.run_mlenv_at(project, home, *args, extra=extra)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("digits")
    proj = root / "digits"
    proj.mkdir()
    shutil.copy(EXAMPLE / "mlenv.yaml", proj / "mlenv.yaml")
    home = root / "home"
    first = mlenv(proj, home, "resolve")
    assert first.returncode == 0, first.stderr
    lock1 = (proj / "mlenv.lock").read_bytes()
    second = mlenv(proj, home, "resolve")
    assert second.returncode == 0, second.stderr
    run = mlenv(proj, home, "run", *FAST, "--json")
    assert run.returncode == 0, run.stderr
    return {
        "dir": proj,
        "home": home,
        "lock1": lock1,
        "lock2": (proj / "mlenv.lock").read_bytes(),
        "run": run,
    }


def test_resolve_is_deterministic_and_portable(project: dict[str, Any]) -> None:
    assert project["lock1"] == project["lock2"]
    text = project["lock1"].decode()
    assert str(project["dir"]) not in text and str(project["home"]) not in text
    lock = yaml.safe_load(text)
    assert lock["version"] == 1
    (section,) = lock["targets"].values()
    assert {"digits", "digits-mlp", "onnxruntime", "mlperf-loadgen"} <= set(section["packages"])
    names = {p["name"] for p in section["pypi"]}
    assert {"onnxruntime", "numpy", "mlcommons-loadgen"} <= names
    assert (
        "scikit-learn" not in names
    )  # the data set comes out of the wheel, sklearn is not installed
    assert all(len(p["sha256"]) == 64 for p in section["pypi"])
    digits = next(a for a in section["artifacts"] if a["package"] == "digits")
    assert digits["member"] == "sklearn/datasets/data/digits.csv.gz"


def test_check_exits_1_after_the_manifest_changes(project: dict[str, Any], tmp_path: Path) -> None:
    proj = tmp_path / "copy"
    proj.mkdir()
    shutil.copy(project["dir"] / "mlenv.yaml", proj / "mlenv.yaml")
    shutil.copy(project["dir"] / "mlenv.lock", proj / "mlenv.lock")
    ok = mlenv(proj, project["home"], "resolve", "--check")
    assert ok.returncode == 0, ok.stderr
    manifest = proj / "mlenv.yaml"
    manifest.write_text(manifest.read_text().replace("onnxruntime >=1.17", "onnxruntime >=1.18"))
    stale = mlenv(proj, project["home"], "resolve", "--check")
    assert stale.returncode == 1
    assert (
        "error:" in stale.stderr and "changed" in stale.stderr and "Traceback" not in stale.stderr
    )


def test_run_prints_the_table_and_writes_results(project: dict[str, Any]) -> None:
    run = project["run"]
    for word in ("Offline", "SingleStream", "samples/s", "p90 ms", "top1"):
        assert word in run.stderr
    documents = json.loads(run.stdout)["data"]
    assert {(d["scenario"], d["mode"]) for d in documents} == {
        (s, m) for s in ("Offline", "SingleStream") for m in ("performance", "accuracy")
    }
    base = next((project["dir"] / "results").iterdir()) / "digits-mlp"
    for doc in documents:
        folder = (
            base
            / doc["scenario"]
            / ("performance/run_1" if doc["mode"] == "performance" else "accuracy")
        )
        for name in (
            "mlperf_log_summary.txt",
            "mlperf_log_detail.txt",
            "mlperf_log_accuracy.json",
            "result.json",
        ):
            assert (folder / name).is_file(), folder / name
        assert json.loads((folder / "result.json").read_text()) == doc
        assert doc["lock"].startswith("sha256:") and doc["backend"]["name"] == "onnxruntime"
        if doc["mode"] == "accuracy":
            assert doc["accuracy"]["top1"] >= 0.9
            assert (folder / "accuracy.txt").is_file()
        else:
            assert doc["valid"] is True
            assert doc["samples_per_second"] > 0
            assert doc["latency_ns"]["p90"] >= doc["latency_ns"]["p50"] > 0
            assert "Result is : VALID" in (folder / "mlperf_log_summary.txt").read_text()


def test_second_run_is_frozen_offline_and_reuses_the_env(project: dict[str, Any]) -> None:
    env_json = next((project["dir"] / ".mlenv" / "envs").iterdir()) / "env.json"
    before = env_json.stat().st_mtime_ns
    again = mlenv(
        project["dir"],
        project["home"],
        "run",
        "--frozen",
        "--offline",
        *FAST,
        "--scenario",
        "SingleStream",
        "--mode",
        "accuracy",
        offline_net=True,
    )
    assert again.returncode == 0, again.stderr
    assert env_json.stat().st_mtime_ns == before
    assert "downloading" not in again.stderr


def test_rebuild_from_the_store_needs_no_network(project: dict[str, Any], tmp_path: Path) -> None:
    proj = tmp_path / "copy"
    proj.mkdir()
    shutil.copy(project["dir"] / "mlenv.yaml", proj / "mlenv.yaml")
    shutil.copy(project["dir"] / "mlenv.lock", proj / "mlenv.lock")
    done = mlenv(proj, project["home"], "install", "--frozen", "--offline", offline_net=True)
    assert done.returncode == 0, done.stderr
    env = Path(done.stdout.strip())
    assert (env / "env.json").is_file()


def test_env_sees_only_its_own_packages(project: dict[str, Any]) -> None:
    env = next((project["dir"] / ".mlenv" / "envs").iterdir())
    python = env / "venv" / "bin" / "python"
    for module, present in (
        ("onnxruntime", True),
        ("mlperf_loadgen", True),
        ("mlenv", False),
        ("sklearn", False),
        ("pytest", False),
    ):
        proc = subprocess.run(
            [str(python), "-I", "-c", f"import {module}"], capture_output=True, check=False
        )
        assert (proc.returncode == 0) is present, (module, proc.stderr)


def test_model_rebuilds_byte_for_byte(project: dict[str, Any], tmp_path: Path) -> None:
    env = next((project["dir"] / ".mlenv" / "envs").iterdir())
    data = env / "artifacts" / "digits" / "digits.csv.gz"
    out = tmp_path / "digits-mlp.onnx"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE / "train_model.py"), "--data", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    recipe = yaml.safe_load((ROOT / "recipes" / "models" / "digits-mlp.yaml").read_text())
    pinned = recipe["install"][0]["artifact"]["sha256"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == pinned
