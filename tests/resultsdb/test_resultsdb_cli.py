"""`mlenv results …` and `record_run_results` over the results of a real run (the offline
runnable project of tests/support/nullrun.py): record, import (results/ folders, result.json
files, bundles, an official summary.csv), list/show/pareto with --json, export csv/json/
summary-csv, plot, and the same against a real PostgreSQL server."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import localpypi as H
import pytest
from runproject import opened_project

from mlenv.ops import results as op
from mlenv.ops.project import Project
from mlenv.ops.resultsimport import import_paths
from mlenv.resultsdb import ResultsDB, default_url
from mlenv.resultsdb.export import SUMMARY_COLUMNS

pytest.importorskip("mlperf_loadgen")

FAST = {"min_duration": 100, "min_query_count": 16, "Offline": {"target_qps": 500}}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Project, list]]:
    """The project, resolved, installed and measured once: Offline and SingleStream, both modes."""
    with opened_project(tmp_path_factory.mktemp("resultsrun")) as (written, project):
        project.resolve()
        results = project.run(
            scenarios=["Offline", "SingleStream"],
            modes=["performance", "accuracy"],
            settings=FAST,
            allow_invalid=True,
        )
        yield written, project, results


@pytest.fixture
def mlenv(
    measured: tuple[Any, Project, list],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Any]:
    """mlenv(*args) -> Result, in-process in the project folder; `--json` results parsed."""
    written = measured[0]

    def _run(*args: str) -> Any:
        result = H.run_in_process(monkeypatch, capsys, written.root, args, written.environ())
        doc = json.loads(result.stdout) if "--json" in args else None
        return SimpleNamespace(
            returncode=result.returncode,
            stdout=result.stdout,
            stderr=result.stderr,
            err=result.err,
            doc=doc,
            text=str(result),
        )

    return _run


def test_a_run_is_recorded_with_its_logs_and_an_import_adds_nothing(
    measured: tuple[Any, Project, list], tmp_path: Path
) -> None:
    _, project, results = measured
    url = f"sqlite:///{tmp_path / 'r.db'}"
    op.record_run_results(project, results, url=url)
    op.record_run_results(project, results, url=url)  # twice: still one run each
    with ResultsDB.open(url) as db:
        rows = db.runs()
        assert len(rows) == 4
        assert {r.point_id for r in rows} == {project.manifest.digest()}
        perf = next(r for r in rows if r.mode == "performance" and r.scenario == "Offline")
        summary = db.log(perf.logs["mlperf_log_summary.txt"]).decode()
        assert "Offline" in summary and "mlperf_log_detail.txt" in perf.logs
        point = db.get(project.manifest.digest())
        assert point.manifest == project.manifest_path.read_text()  # type: ignore[union-attr]
    done = import_paths(project, [project.project_dir / "results"], url=url)
    assert (len(done.runs), done.new) == (4, 0)


def test_the_database_is_results_then_mlenv_results_then_beside_the_manifest(
    measured: tuple[Any, Project, list],
) -> None:
    _, project, _ = measured
    assert op.results_url(project) == default_url(project.project_dir)
    elsewhere = dataclasses.replace(project, environ={"MLENV_RESULTS": "sqlite:///x.db"})
    assert op.results_url(elsewhere) == "sqlite:///x.db"
    assert op.results_url(project, "sqlite:///y.db") == "sqlite:///y.db"


def test_cli_import_list_show_pareto(mlenv: Callable[..., Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    missing = mlenv("--json", "results", "list", "--results", url)
    assert missing.returncode == 1 and "no results recorded yet" in missing.doc["error"]["message"]
    imported = mlenv("--json", "results", "import", "results", "--results", url)
    assert imported.returncode == 0, imported.text
    assert imported.doc["data"]["new"] == 4
    again = mlenv("--json", "results", "import", "results", "--results", url)
    assert again.doc["data"]["already_recorded"] == 4 and again.doc["data"]["new"] == 0
    listed = mlenv("--json", "results", "list", "--results", url, "--where", "mode=performance")
    runs = listed.doc["data"]["runs"]
    assert {r["scenario"] for r in runs} == {"Offline", "SingleStream"}
    assert all(r["status"] == "ok" and r["origin"] == "mlenv" for r in runs)
    shown = mlenv("--json", "results", "show", runs[0]["run_id"], "--results", url)
    assert shown.doc["data"]["run"]["result"]["scenario"] == runs[0]["scenario"]
    assert "mlperf_log_summary.txt" in shown.doc["data"]["run"]["logs"]
    point = mlenv("--json", "results", "show", runs[0]["point_id"][7:19], "--results", url)
    assert point.doc["data"]["point"]["manifest"].startswith("name: nullrun")
    human = mlenv("results", "show", runs[0]["point_id"], "--results", url)
    assert "derived manifest" in human.err and "name: nullrun" in human.stderr
    front = mlenv("--json", "results", "pareto", "--results", url, "--scenario", "Offline")
    (group,) = front.doc["data"]["groups"]
    assert group["objectives"] == {
        "samples_per_second": "max",
        "latency_ns.p90": "min",
        "accuracy.top1": "max",
    }
    assert group["front"][0]["objectives"]["accuracy.top1"] > 0
    table = mlenv("results", "list", "--results", url)
    assert table.returncode == 0 and "SingleStream" in table.stderr and table.stdout == ""
    bad = mlenv("--json", "results", "pareto", "--results", url, "--objective", "x=most")
    assert bad.returncode == 1 and "max or min" in bad.doc["error"]["message"]
    unknown = mlenv("--json", "results", "show", "nothing-like-it", "--results", url)
    assert unknown.returncode == 1 and unknown.doc["error"]["kind"] == "results-db"


def test_cli_export_and_plot(mlenv: Callable[..., Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    assert mlenv("results", "import", "results", "--results", url).returncode == 0
    out = tmp_path / "runs.csv"
    done = mlenv("--json", "results", "export", "--format", "csv", "-o", str(out), "--results", url)
    assert done.doc["data"] == {"format": "csv", "count": 4, "path": str(out)}
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and {"run_id", "latency_ns.p90", "accuracy.top1"} <= set(rows[0])
    as_json = mlenv("results", "export", "--format", "json", "--results", url)
    assert len(json.loads(as_json.stdout)["runs"]) == 4
    summary = mlenv("results", "export", "--format", "summary-csv", "--results", url).stdout
    header, *lines = summary.splitlines()
    assert tuple(header.split(",")) == SUMMARY_COLUMNS
    table = list(csv.DictReader(io.StringIO(summary)))
    assert len(lines) == 2 and {r["Scenario"] for r in table} == {"Offline", "SingleStream"}
    single = next(r for r in table if r["Scenario"] == "SingleStream")
    assert single["Units"] == "Latency (ms)" and single["Accuracy"].startswith("top1: ")
    svg = tmp_path / "front.svg"
    plotted = mlenv("--json", "results", "plot", "-o", str(svg), "--results", url)
    assert plotted.returncode == 0 and plotted.doc["data"]["path"] == str(svg)
    root = ET.fromstring(svg.read_text())
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 2 and all(c.get("class") == "on" for c in circles)
    assert "http" not in svg.read_text().replace("http://www.w3.org/2000/svg", "")


def test_import_a_bundle_and_an_official_summary(
    measured: tuple[Any, Project, list], mlenv: Callable[..., Any], tmp_path: Path
) -> None:
    from mlenv.ops.pack import pack

    _, project, _ = measured
    bundle = pack(project, output=tmp_path / "b.mlenv.tar", frozen=True).path
    url = f"sqlite:///{tmp_path / 'b.db'}"
    done = mlenv("--json", "results", "import", str(bundle), "--results", url)
    assert done.returncode == 0, done.text
    assert done.doc["data"]["new"] == 4
    with ResultsDB.open(url) as db:
        assert {r.point_id for r in db.runs()} == {project.manifest.digest()}
    summary = mlenv("results", "export", "--format", "summary-csv", "--results", url).stdout
    official = tmp_path / "summary.csv"
    official.write_text(summary.replace('"v6.1"', '"v5.0"'))
    with official.open("a") as f:  # a power row: left out
        f.write(summary.splitlines()[1].replace('"Samples/s"', '"Watts"') + "\n")
    imported = mlenv("--json", "results", "import", str(official), "--results", url)
    assert imported.doc["data"]["new"] == 2 and imported.doc["data"]["left_out"]
    mlperf = mlenv("--json", "results", "list", "--where", "origin=mlperf-v5.0", "--results", url)
    rows = mlperf.doc["data"]["runs"]
    assert {r["scenario"] for r in rows} == {"Offline", "SingleStream"}
    assert all(r["point_id"].startswith("mlperf:") for r in rows)
    single = next(r for r in rows if r["scenario"] == "SingleStream")
    assert single["latency_ns"]["p90"] > 0 and single["accuracy"]["top1"] > 0


def test_import_refuses_what_is_not_a_result(mlenv: Callable[..., Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    bad = mlenv("--json", "results", "import", str(other), "--results", url)
    assert bad.returncode == 1 and "not an mlenv result.json" in bad.doc["error"]["message"]
    empty = tmp_path / "empty"
    empty.mkdir()
    none = mlenv("--json", "results", "import", str(empty), "--results", url)
    assert none.returncode == 1 and "holds no result.json" in none.doc["error"]["message"]
    gone = mlenv("--json", "results", "import", str(tmp_path / "gone"), "--results", url)
    assert gone.returncode == 1 and "does not exist" in gone.doc["error"]["message"]


def test_postgresql_results(
    measured: tuple[Any, Project, list], mlenv: Callable[..., Any], pg_url: str
) -> None:
    _, project, results = measured
    op.record_run_results(project, results, url=pg_url)
    listed = mlenv("--json", "results", "list", "--results", pg_url)
    assert listed.returncode == 0, listed.text
    assert len(listed.doc["data"]["runs"]) == 4
    assert listed.doc["data"]["results"] == pg_url
    front = mlenv("--json", "results", "pareto", "--results", pg_url)
    assert len(front.doc["data"]["groups"]) == 2
    table = mlenv("results", "list", "--results", pg_url)
    assert table.returncode == 0 and "Offline" in table.stderr
