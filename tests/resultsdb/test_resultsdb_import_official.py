"""`mlenv results import` of official MLPerf tables (tests/resultsdb/data/, samples in the
published formats): the checker's summary.csv (v4.1 columns, round from its `version` column),
its v6.x columns as JSON (round from the file name), the results site's JSON vocabulary; runs
kept apart by origin, a re-import that adds nothing, and the errors a user can cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import localpypi as H
import pytest

from mlenv.resultsdb import ResultsDB
from mlenv.resultsdb.summary import parse_accuracy, read_table

DATA = Path(__file__).parent / "data"
V41 = DATA / "inference_results_v4.1" / "summary.csv"
V60 = DATA / "summary_v6.0.json"
V50 = DATA / "summary_results_v5.0.json"


@pytest.fixture
def mlenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "mlenv.yaml").write_text("name: imports\nrequires: [digits]\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"

    def _run(*args: str) -> Any:
        argv = ["--json", *args, "--results", url]
        env = {"PATH": "/usr/bin:/bin", "MLENV_HOME": str(tmp_path / "home")}
        result = H.run_in_process(monkeypatch, capsys, folder, argv, env)
        return SimpleNamespace(code=result.returncode, doc=json.loads(result.stdout), url=url)

    return _run


def test_accuracy_text_is_parsed_into_values() -> None:
    assert parse_accuracy("acc: 76.078, mAP: 37.5") == {"acc": 76.078, "mAP": 37.5}
    assert parse_accuracy("ROUGE1: 44.4  ROUGE2: 22.0") == {"ROUGE1": 44.4, "ROUGE2": 22.0}
    assert parse_accuracy("") == {}
    assert parse_accuracy(" 90.35676151551918") == {"accuracy": 90.35676151551918}


def test_three_tables_two_vocabularies_and_a_reimport_that_adds_nothing(mlenv: Any) -> None:
    done = mlenv("results", "import", str(V41), str(V60), str(V50))
    assert done.code == 0, done.doc
    assert done.doc["data"]["new"] == 5 + 3 + 2
    assert any("1 power" in line for line in done.doc["data"]["left_out"])
    again = mlenv("results", "import", str(V41), str(V60), str(V50))
    assert again.doc["data"]["new"] == 0 and again.doc["data"]["already_recorded"] == 10
    with ResultsDB.open(done.url) as db:
        rows = db.runs()
        assert {r.origin for r in rows} == {"mlperf-v4.1", "mlperf-v5.0", "mlperf-v6.0"}
        v41 = [r for r in rows if r.origin == "mlperf-v4.1"]
        stream = next(r for r in v41 if r.scenario == "MultiStream")
        assert stream.document["latency_ns"] == {"p99": pytest.approx(88.21e6)}
        assert stream.document["accuracy"] == {"mAP": 37.498}
        llama = next(r for r in v41 if r.benchmark == "llama2-70b-99")
        assert llama.document["samples_per_second"] == 24321.5
        assert llama.document["mlperf"]["units"] == "Tokens/s"
        assert llama.document["accuracy"]["ROUGE1"] == 44.4312
        assert llama.document["target"]["facts"]["accelerator"] == "Example X100-SXM-80GB"
        assert llama.document["target"]["facts"]["accelerators"] == 8
        site = next(r for r in rows if r.origin == "mlperf-v5.0" and r.scenario == "Server")
        assert site.document["target"]["name"] == "SampleCorp Node N8"
        assert site.document["backend"]["name"] == "TensorRT 10.8"
        assert site.document["mlperf"]["power"] == {"value": 4512.3, "units": "Watts"}
        assert site.document["accuracy"] == {"F1": 90.2716}
        six = [r for r in rows if r.origin == "mlperf-v6.0"]
        assert {r.target for r in six} == {"DemoLabs Rack 2x16", "ExampleOrg Laptop L1"}
        assert (
            next(r for r in six if r.scenario == "Offline").value("target.facts.accelerators") == 32
        )
    listed = mlenv("results", "list", "--where", "target.facts.system_type=edge")
    assert {r["origin"] for r in listed.doc["data"]["runs"]} == {"mlperf-v4.1", "mlperf-v6.0"}


def test_the_same_table_as_csv_and_json_is_one_set_of_runs(tmp_path: Path) -> None:
    """Cells are read as the checker's CSV spells them, so JSON numbers change nothing."""
    rows = json.loads(V60.read_text())
    header = list(rows[0])
    csv_path = tmp_path / "v6.0" / "summary.csv"
    csv_path.parent.mkdir()
    lines = [",".join(header)]
    for row in rows:
        cells = ["" if row[k] is None else str(row[k]) for k in header]
        lines.append(",".join(f'"{c}"' for c in cells))
    csv_path.write_text("\n".join(lines) + "\n")
    from_json = [r.document for r in read_table(V60).runs]
    from_csv = [r.document for r in read_table(csv_path).runs]
    assert from_json == from_csv


def test_the_round_comes_from_the_option_or_the_error_says_how(mlenv: Any, tmp_path: Path) -> None:
    rows = json.loads(V60.read_text())
    plain = tmp_path / "table.json"
    plain.write_text(json.dumps(rows))
    bad = mlenv("results", "import", str(plain))
    assert bad.code == 1
    assert "round of these results is not known" in bad.doc["error"]["message"]
    assert "--round v5.1" in bad.doc["error"]["hint"]
    good = mlenv("results", "import", str(plain), "--round", "5.1")
    assert good.code == 0 and good.doc["data"]["new"] == 3
    listed = mlenv("results", "list", "--where", "origin=mlperf-v5.1")
    assert len(listed.doc["data"]["runs"]) == 3
    wrong = mlenv("results", "import", str(plain), "--round", "five")
    assert wrong.code == 1 and "not an MLPerf round" in wrong.doc["error"]["message"]


def test_a_missing_column_names_the_file_the_column_and_what_was_found(
    mlenv: Any, tmp_path: Path
) -> None:
    broken = tmp_path / "v4.1" / "summary.csv"
    broken.parent.mkdir()
    text = V41.read_text().replace(",Units,", ",Unit,", 1)
    broken.write_text(text)
    bad = mlenv("results", "import", str(broken))
    assert bad.code == 1, bad.doc
    error = bad.doc["error"]
    assert str(broken) in error["message"] and "Units or Performance_Units" in error["message"]
    assert "Unit," in error["why"] and error["where"] == str(broken)
    shape = tmp_path / "v4.1" / "summary.json"
    shape.write_text('{"hello": 1}')
    odd = mlenv("results", "import", str(shape))
    assert odd.code == 1 and "not an MLPerf results table" in odd.doc["error"]["message"]


def test_a_result_json_with_another_name_is_still_a_result(mlenv: Any, tmp_path: Path) -> None:
    doc = {"version": 1, "scenario": "Offline", "mode": "performance", "lock": "sha256:ab"}
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "mine.json").write_text(json.dumps(doc))
    done = mlenv("results", "import", str(folder / "mine.json"))
    assert done.code == 0 and done.doc["data"]["new"] == 1


def test_a_table_too_large_is_refused(
    mlenv: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlenv.resultsdb import summary

    copy = tmp_path / "v4.1.csv"
    shutil.copy(V41, copy)
    monkeypatch.setattr(summary, "MAX_TABLE", 100)
    bad = mlenv("results", "import", str(copy))
    assert bad.code == 1 and "too large" in bad.doc["error"]["message"]


PUBLISHED = DATA / "published" / "summary.csv"  # four rows of a real v4.1 table (see data/README)


def test_a_published_table_imports_and_a_reimport_adds_nothing(mlenv: Any) -> None:
    done = mlenv("results", "import", str(PUBLISHED))
    assert done.code == 0, done.doc
    assert done.doc["data"]["new"] == 4
    again = mlenv("results", "import", str(PUBLISHED))
    assert again.code == 0 and again.doc["data"]["new"] == 0, again.doc
    rows = {(r.benchmark, r.scenario): r for r in ResultsDB.open(done.url).runs()}
    assert set(rows) == {
        ("retinanet", "Offline"), ("bert-99", "Offline"), ("resnet50", "Server"), ("resnet50", "Offline"),
    }  # fmt: skip
    offline = rows["resnet50", "Offline"]
    assert offline.origin == "mlperf-v4.1"
    assert offline.document["samples_per_second"] == 757446.0
    assert offline.document["target"]["facts"]["accelerator"] == "NVIDIA H200-SXM-141GB"
    assert offline.document["backend"]["name"] == "TensorRT 10.2.0, CUDA 12.4"
    assert offline.document["mlperf"]["organization"] == "GigaComputing"
    assert offline.document["accuracy"] == {"accuracy": 76.078}  # a bare number in v4.x tables
