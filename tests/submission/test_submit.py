"""`mlenv submit` and `mlenv submit check` over real LoadGen runs of the offline runnable project
(tests/support/nullrun.py), recorded with `mlenv run --results sqlite:///…`: a test submission
that mlenv's own checks accept, each refusal (INVALID, subset, quick profile without --test,
closed division), and broken trees reported with their paths."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import localpypi as H
import pytest
from runproject import nullrun_project

from mlenv.resultsdb import ResultsDB
from mlenv.submission import accuracy as A
from mlenv.submission.rules import MAX_ACCURACY_LOG, SYSTEM_FIELDS
from mlenv.submission.systems import describe

pytest.importorskip("mlperf_loadgen")

QUICK = ["run", "--scenario", "Offline", "--mode", "performance", "--mode", "accuracy"]
INVALID = ["--set", "min_duration=100", "--set", "min_query_count=16", "--set", "target_qps=500"]


def _main(folder: Path, args: list[str], env: dict[str, str]) -> int:
    from mlenv.cli.main import main

    with pytest.MonkeyPatch.context() as m:
        m.chdir(folder)
        for key, value in env.items():
            m.setenv(key, value)
        return main(args)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The project resolved once and measured three ways, each into its own database: quick
    (VALID), quick on a subset of 32 samples, and an INVALID run (too short for its QPS)."""
    tmp = tmp_path_factory.mktemp("submit")
    with nullrun_project(tmp) as written:
        env = written.environ()
        dbs = {k: f"sqlite:///{tmp / f'{k}.db'}" for k in ("quick", "subset", "invalid")}
        assert _main(written.root, ["resolve"], env) == 0
        for key, extra in (
            ("quick", []),
            ("subset", ["--samples", "32"]),
            ("invalid", [*INVALID, "--allow-invalid"]),
        ):
            assert _main(written.root, [*QUICK, *extra, "--results", dbs[key]], env) == 0
        yield SimpleNamespace(written=written, env=env, dbs=dbs, tmp=tmp)


def _cli(measured: SimpleNamespace, monkeypatch: Any, capsys: Any, *args: str) -> Any:
    result = H.run_in_process(
        monkeypatch, capsys, measured.written.root, ["--json", *args], measured.env
    )
    return SimpleNamespace(code=result.returncode, doc=json.loads(result.stdout), text=str(result))


@pytest.fixture(scope="module")
def tree(measured: SimpleNamespace) -> SimpleNamespace:
    """A --test submission of the quick runs, written once (a system file supplies two fields)."""
    system = measured.tmp / "system.yaml"
    system.write_text("system:\n  cooling: air\n  status: available\n", encoding="utf-8")
    out = measured.tmp / "submission"
    args = ["submit", "--submitter", "Acme", "--test", "--system", str(system)]
    code = _main(
        measured.written.root, [*args, "--results", measured.dbs["quick"], "-o", str(out)],
        measured.env,
    )  # fmt: skip
    assert code == 0
    root = out / "open" / "Acme"
    (system_json,) = (root / "systems").glob("*.json")
    (scenario,) = (root / "results").glob("*/*/Offline")
    return SimpleNamespace(out=out, root=root, system=system_json, scenario=scenario)


def test_a_test_submission_holds_every_required_file(
    measured: SimpleNamespace, tree: SimpleNamespace
) -> None:
    s = tree.scenario
    for rel in (
        "performance/run_1/mlperf_log_summary.txt",
        "performance/run_1/mlperf_log_detail.txt",
        "accuracy/mlperf_log_summary.txt",
        "accuracy/mlperf_log_detail.txt",
        "accuracy/mlperf_log_accuracy.json",
        "accuracy/accuracy.txt",
        "measurements.json",
        "user.conf",
        "README.md",
    ):
        assert (s / rel).stat().st_size > 0, rel
    assert "Test submission, not for MLPerf" in (s / "README.md").read_text()
    assert "Test submission, not for MLPerf" in (tree.root / "src" / "README.md").read_text()
    (src,) = [p for p in (tree.root / "src").iterdir() if p.is_dir()]
    assert {"mlenv.yaml", "mlenv.lock"} <= {p.name for p in src.iterdir()}
    assert (src / "recipes" / "datasets" / "smalldigits.yaml").is_file()
    assert json.loads((tree.root / "model_mapping.json").read_text()) == {"zeromodel": "resnet"}
    with tarfile.open(tree.out / "Acme.tar.gz") as tar:
        names = set(tar.getnames())
    assert f"open/Acme/{s.relative_to(tree.root)}/accuracy/accuracy.txt" in names


def test_accuracy_txt_carries_the_metric_and_the_hash_of_the_whole_log(
    measured: SimpleNamespace, tree: SimpleNamespace
) -> None:
    with ResultsDB.open(measured.dbs["quick"]) as db:
        (acc,) = [r for r in db.runs() if r.mode == "accuracy"]
        whole = db.log(acc.logs["mlperf_log_accuracy.json"])
    lines = (tree.scenario / "accuracy" / "accuracy.txt").read_text().splitlines()
    top1 = acc.document["accuracy"]["top1"]
    assert lines[0] == f"accuracy={100 * top1:.3f}%, good={round(top1 * 64)}, total=64"
    assert lines[-1] == f"hash={hashlib.sha256(whole).hexdigest()}"
    assert (tree.scenario / "accuracy" / "mlperf_log_accuracy.json").read_bytes() == A.truncate(
        whole
    )


def test_the_systems_json_is_filled_from_the_runs_and_the_system_file(
    tree: SimpleNamespace,
) -> None:
    fields = json.loads(tree.system.read_text())
    assert set(SYSTEM_FIELDS) <= set(fields)
    assert fields["division"] == "open" and fields["submitter"] == "Acme"
    assert fields["cooling"] == "air" and fields["status"] == "available"
    assert fields["framework"].startswith("null ")
    assert int(fields["host_processor_core_count"]) >= 1
    assert fields["accelerators_per_node"] == "0"
    assert fields["host_storage_type"].startswith("TBD")  # a placeholder in a test submission


def test_mlenv_submit_check_accepts_the_tree(
    measured: SimpleNamespace, tree: SimpleNamespace, monkeypatch: Any, capsys: Any
) -> None:
    found = _cli(measured, monkeypatch, capsys, "submit", "check", str(tree.out))
    assert found.code == 0, found.text
    assert found.doc["data"]["problems"] == []


@pytest.mark.parametrize(
    ("db", "extra", "expected"),
    [
        ("quick", [], "measured under the quick profile, not submission"),
        ("subset", [], "performance run on a subset: 32 of the 64 samples of smalldigits"),
        ("invalid", ["--test"], "LoadGen marked the performance run INVALID"),
    ],
)
def test_each_refusal_is_an_exit_1_diagnostic(
    measured: SimpleNamespace,
    monkeypatch: Any,
    capsys: Any,
    tmp_path: Path,
    db: str,
    extra: list[str],
    expected: str,
) -> None:
    args = ["submit", "--submitter", "Acme", *extra, "--results", measured.dbs[db]]
    found = _cli(measured, monkeypatch, capsys, *args, "-o", str(tmp_path / "out"))
    assert found.code == 1, found.text
    error = found.doc["error"]
    assert error["kind"] == "submission" and "--profile submission" in error["hint"]
    assert any(expected in p["message"] for p in error["problems"]), error["problems"]
    assert not (tmp_path / "out" / "open").exists()


def test_a_subset_is_accepted_in_a_test_submission(
    measured: SimpleNamespace, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    args = ["submit", "--submitter", "Acme", "--test", "--results", measured.dbs["subset"]]
    found = _cli(measured, monkeypatch, capsys, *args, "-o", str(tmp_path))
    assert found.code == 0, found.text
    assert found.doc["data"]["test"] is True


def test_the_closed_division_refuses_a_model_outside_its_list(
    measured: SimpleNamespace, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    args = ["submit", "--submitter", "Acme", "--test", "--division", "closed"]
    found = _cli(measured, monkeypatch, capsys, *args, "--results", measured.dbs["quick"], "-o", str(tmp_path))  # fmt: skip
    assert found.code == 1
    assert "not a model of the closed division" in found.doc["error"]["message"]
    assert not (tmp_path / "closed" / "Acme").exists()


def test_a_broken_tree_is_reported_with_each_path(
    measured: SimpleNamespace, tree: SimpleNamespace, monkeypatch: Any, capsys: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(tree.out, copy)
    root = copy / "open" / "Acme"
    scenario = root / tree.scenario.relative_to(tree.root)
    (scenario / "performance" / "run_1" / "mlperf_log_detail.txt").unlink()
    (scenario / "accuracy" / "mlperf_log_accuracy.json").write_bytes(b"[" + b" " * 20000 + b"]")
    text = scenario / "accuracy" / "accuracy.txt"
    text.write_text(text.read_text().splitlines()[0] + "\n")
    system = root / tree.system.relative_to(tree.root)
    fields = json.loads(system.read_text())
    del fields["cooling"]
    system.write_text(json.dumps(fields))
    (scenario / "user.conf").write_text("")
    found = _cli(measured, monkeypatch, capsys, "submit", "check", str(copy))
    assert found.code == 1
    problems = {(p["where"], p["message"]) for p in found.doc["error"]["problems"]}
    rel = f"open/Acme/{scenario.relative_to(root)}"
    sys_rel = f"open/Acme/{system.relative_to(root)}"
    assert (f"{rel}/performance/run_1/mlperf_log_detail.txt", "is missing") in problems
    assert any(w == f"{rel}/accuracy/mlperf_log_accuracy.json" and "20002 bytes" in m for w, m in problems)  # fmt: skip
    assert any(w == f"{rel}/accuracy/accuracy.txt" and "hash=" in m for w, m in problems)
    assert (sys_rel, "cooling is missing") in problems
    assert (f"{rel}/user.conf", "is empty") in problems


def test_an_existing_submitter_folder_is_not_overwritten(
    measured: SimpleNamespace, tree: SimpleNamespace, monkeypatch: Any, capsys: Any
) -> None:
    args = ["submit", "--submitter", "Acme", "--test", "--results", measured.dbs["quick"]]
    found = _cli(measured, monkeypatch, capsys, *args, "-o", str(tree.out))
    assert found.code == 1 and "already exists" in found.doc["error"]["message"]


# -- the pieces, without runs ------------------------------------------------------------------


def test_truncation_keeps_head_and_tail_within_the_limit() -> None:
    log = b"[" + b"".join(b'{"qsl_idx": %d, "data": "00"},\n' % i for i in range(2000)) + b"]"
    cut = A.truncate(log)
    assert len(cut) <= MAX_ACCURACY_LOG and cut.startswith(log[:4096]) and cut.endswith(log[-4096:])
    assert A.truncate(b"[]") == b"[]"


def test_accuracy_lines_follow_the_checker_formats() -> None:
    assert A.metric_lines({"top1": 0.5}, 10) == ["accuracy=50.000%, good=5, total=10"]
    assert A.metric_lines({"map": 0.3755}, None) == ["mAP=37.550%"]
    assert A.metric_lines({"f1": 0.9, "exact_match": 0.8}, None) == [
        '{"exact_match": 80.0, "f1": 90.0}'
    ]


def test_missing_system_fields_are_listed_unless_test() -> None:
    doc = {"machine": {"cpu": "X", "cores": 4, "memory_bytes": 2**34, "accelerators": []}}
    kw = {"name": "box", "division": "open", "submitter": "Acme"}
    real = describe(doc, {"cooling": "air"}, test=False, **kw)
    assert "status" in real.missing and "cooling" not in real.missing
    assert "host_processor_model_name" not in real.missing and real.fields["status"] == ""
    test = describe(doc, {}, test=True, **kw)
    assert test.fields["status"] == "available" and test.fields["system_type"] == "edge"
