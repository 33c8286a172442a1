"""`mlenv results export --format fair`: real recorded runs (the offline runnable project of
tests/support/nullrun.py) exported as an RO-Crate (Process Run Crate) with results.csv and its
Croissant description, then checked by the `rocrate` and `mlcroissant` libraries themselves."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from runproject import opened_project

from mlenv.ops import results as op
from mlenv.ops.project import Project
from mlenv.ops.resultsimport import import_paths
from mlenv.resultsdb import ResultsDB

pytest.importorskip("mlperf_loadgen")
rocrate = pytest.importorskip("rocrate.rocrate")
mlc = pytest.importorskip("mlcroissant")

FAST = {"min_duration": 100, "min_query_count": 16, "Offline": {"target_qps": 500}}
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Project, str]]:
    """One real run (Offline, both modes) recorded, plus an imported official table."""
    with opened_project(tmp_path_factory.mktemp("fairrun")) as (written, project):
        project.resolve()
        results = project.run(
            scenarios=["Offline"],
            modes=["performance", "accuracy"],
            settings=FAST,
            allow_invalid=True,
        )
        url = f"sqlite:///{tmp_path_factory.mktemp('fairdb') / 'r.db'}"
        op.record_run_results(project, results, url=url)
        import_paths(project, [DATA / "summary_results_v5.0.json"], url=url)
        yield written, project, url


def test_the_crate_loads_in_rocrate_with_one_action_per_run(
    recorded: tuple[Any, Project, str], tmp_path: Path
) -> None:
    _, project, url = recorded
    out = tmp_path / "crate"
    done = op.export(project, "fair", url=url, output=out)
    assert done.count == 4 and done.path == out
    crate = rocrate.ROCrate(out)
    actions = [e for e in crate.get_entities() if e.type == "CreateAction"]
    assert len(actions) == 4
    with ResultsDB.open(url) as db:
        own = [r for r in db.runs() if r.origin == "mlenv"]
    perf = next(r for r in own if r.mode == "performance")
    action = crate.get(f"#run-{perf.run_id}")
    assert action is not None
    instruments = [i.id for i in action["instrument"]]
    assert "#mlenv" in instruments and f"runs/{perf.run_id}/mlenv.lock" in instruments
    assert crate.get("#mlenv")["version"] and crate.get("#mlenv").type == "SoftwareApplication"
    objects = {o.id for o in action["object"]}
    assert {f"runs/{perf.run_id}/mlenv.yaml", f"runs/{perf.run_id}/user.conf"} <= objects
    results = {r.id for r in action["result"]}
    assert f"runs/{perf.run_id}/mlperf_log_summary.txt" in results
    summary = (out / "runs" / perf.run_id / "mlperf_log_summary.txt").read_bytes()
    with ResultsDB.open(url) as db:
        assert summary == db.log(perf.logs["mlperf_log_summary.txt"])
    assert _id(action["actionStatus"]) == "http://schema.org/CompletedActionStatus"
    assert action["endTime"] and action.get("startTime")
    # an imported MLPerf row has no files: its action names none rather than making them up
    official = next(a for a in actions if "mlperf-v5.0" in a["description"])
    assert not official.get("result") and not official.get("object")
    root = crate.root_dataset
    assert root["license"] and root["datePublished"] and root["name"] and root["description"]
    profiles = {p.id for p in root["conformsTo"]}
    assert "https://w3id.org/ro/wfrun/process/0.5" in profiles
    assert crate.get("results.csv") is not None and crate.get("croissant.json") is not None
    for part in root["hasPart"]:
        assert (out / part.id).is_file(), part.id


def test_croissant_loads_and_its_records_are_the_csv_rows(
    recorded: tuple[Any, Project, str], tmp_path: Path
) -> None:
    _, project, url = recorded
    out = tmp_path / "crate"
    op.export(project, "fair", url=url, output=out)
    meta = json.loads((out / "croissant.json").read_text())
    dataset = mlc.Dataset(jsonld=out / "croissant.json")
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    records = list(dataset.records(record_set="runs"))
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(records) == len(rows) == 4
    got = sorted(_text(r["runs/run_id"]) for r in records)
    assert got == sorted(r["run_id"] for r in rows)
    assert meta["distribution"][0]["sha256"]


def test_the_export_is_deterministic_and_refuses_a_full_folder(
    recorded: tuple[Any, Project, str], tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    written, project, url = recorded
    op.export(project, "fair", url=url, output=tmp_path / "a")
    op.export(project, "fair", url=url, output=tmp_path / "b")
    a = (tmp_path / "a" / "ro-crate-metadata.json").read_bytes()
    assert a == (tmp_path / "b" / "ro-crate-metadata.json").read_bytes()
    args = ["--json", "results", "export", "--format", "fair", "-o", str(tmp_path / "a")]
    result = H.run_in_process(
        monkeypatch, capsys, written.root, [*args, "--results", url], written.environ()
    )
    assert result.returncode == 1
    assert "not an empty folder" in json.loads(result.stdout)["error"]["message"]
    args = ["--json", "results", "export", "--format", "fair", "--results", url]
    result = H.run_in_process(monkeypatch, capsys, written.root, args, written.environ())
    assert result.returncode == 1 and "-o DIR" in json.loads(result.stdout)["error"]["hint"]


def _id(value: Any) -> str:
    """An entity's id (rocrate gives a reference to no entity of the crate as the id itself)."""
    return value if isinstance(value, str) else value.id


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
