"""The store on SQLite and on a real PostgreSQL server: record, list, show, idempotence, logs
kept once by sha256, failed points, sweeps, filters, transactions, the schema version gate and
concurrent writers."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, update

from mlenv.errors import MlenvError
from mlenv.resultsdb import COLUMNS, PointRow, ResultsDB, ResultsDBError, RunRow, default_url
from mlenv.resultsdb import schema as S


def result(
    scenario: str = "Offline", mode: str = "performance", sps: float = 100.0, **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "benchmark": "digits-mlp",
        "dataset": "digits",
        "scenario": scenario,
        "mode": mode,
        "valid": True,
        "samples_per_second": sps if mode == "performance" else None,
        "latency_ns": {"p50": 1000, "p90": 2000, "p99": 3000},
        "lock": "sha256:" + "ab" * 32,
        "target": {"name": "linux-x86_64-cpu", "facts": {"os": "linux"}},
        "backend": {"name": "onnxruntime", "version": "1.23.2"},
        "settings": {"min_duration": 100},
    }
    if mode == "accuracy":
        doc["accuracy"] = {"top1": 0.97}
    return {**doc, **extra}


def point(
    db: ResultsDB, point_id: str = "sha256:p1", sweep: str | None = "s", **params: Any
) -> str:
    db.record_point(
        point_id,
        sweep=sweep,
        parameters=params or {"benchmark.threads": 1},
        manifest="name: digits\n",
        lock="sha256:" + "ab" * 32,
        target="linux-x86_64-cpu",
    )
    return point_id


def test_default_url_is_beside_the_project(tmp_path: Path) -> None:
    assert default_url(tmp_path) == f"sqlite:///{tmp_path}/.mlenv/results.db"
    with ResultsDB.open(default_url(tmp_path / "sub")) as db:
        assert db.runs() == []
    assert (tmp_path / "sub" / ".mlenv" / "results.db").is_file()


def test_record_list_show(url: str) -> None:
    with ResultsDB.open(url) as db:
        db.ensure_sweep("s", {"name": "s", "axes": {"benchmark.threads": [1, 2]}})
        pid = point(db)
        logs = {"mlperf_log_summary.txt": b"Result is : VALID\n", "user.conf": b"*.*.x = 1\n"}
        perf = db.record_run(pid, result(), logs=logs)
        acc = db.record_run(pid, result(mode="accuracy"))
        rows = db.runs()
        assert [r.run_id for r in rows] == [perf, acc]
        first = rows[0].to_dict()
        assert tuple(first) == COLUMNS
        assert first["sweep"] == "s" and first["status"] == "ok" and first["origin"] == "mlenv"
        assert first["parameters"] == {"benchmark.threads": 1}
        assert first["target"] == "linux-x86_64-cpu" and first["lock"] == "sha256:" + "ab" * 32
        assert first["latency_ns"] == {"p50": 1000, "p90": 2000, "p99": 3000}
        assert rows[1].to_dict()["accuracy"] == {"top1": 0.97}
        shown = db.get(perf)
        assert isinstance(shown, RunRow) and shown.document == result()
        assert db.log(shown.logs["user.conf"]) == b"*.*.x = 1\n"
        whole = db.get(pid)
        assert isinstance(whole, PointRow)
        assert whole.manifest == "name: digits\n" and whole.sweeps == ("s",)
        assert [r.run_id for r in whole.runs] == [perf, acc] and whole.status == "ok"
        assert db.get(perf[:6]).run_id == perf  # type: ignore[union-attr]
        assert db.sweeps()["s"]["axes"] == {"benchmark.threads": [1, 2]}


def test_recording_twice_is_a_no_op_and_logs_are_stored_once(url: str) -> None:
    with ResultsDB.open(url) as db:
        pid = point(db)
        point(db)  # the point again: nothing changes
        log = {"mlperf_log_detail.txt": b"x" * 10_000}
        first = db.record_run(pid, result(), logs=log)
        again = db.record_run(pid, result(), logs=log)
        other = db.record_run(pid, result(sps=200.0), logs=log)  # another run, the same log
        assert first == again != other
        assert len(db.runs()) == 2 and len(db.points()) == 1
        with db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(S.logs)).scalar() == 1
            assert conn.execute(select(func.count()).select_from(S.run_logs)).scalar() == 2
    with ResultsDB.open(url) as db:  # reopened: same rows
        assert [r.run_id for r in db.runs()] == [first, other]


def test_failures_are_recorded_and_statuses_follow_the_latest(url: str) -> None:
    with ResultsDB.open(url) as db:
        pid = point(db)
        assert db.point_status(pid) is None
        error = {"message": "install failed", "where": "uv", "why": "no wheel", "hint": "pin it"}
        failed = db.record_failure(pid, error, stage="install")
        assert db.point_status(pid) == "failed"
        row = db.get(failed)
        assert isinstance(row, RunRow) and row.status == "failed" and row.stage == "install"
        assert row.to_dict()["error"] == error
        again = db.record_failure(pid, error, stage="install")  # every attempt is kept
        assert again != failed
        db.record_run(pid, result())  # --retry-failed, now it works
        assert db.point_status(pid) == "ok"
        assert [r.status for r in db.runs()] == ["failed", "failed", "ok"]
        assert db.pareto() == [r for r in db.runs() if r.status == "ok"]
        with pytest.raises(ResultsDBError, match="no point"):
            db.record_run("sha256:unknown", result())


def test_a_point_recorded_again_gains_what_it_lacked(url: str) -> None:
    with ResultsDB.open(url) as db:
        db.record_point(
            "sha256:q", sweep="s", parameters={"a": 1}, manifest="", lock=None, target=None
        )
        db.record_point(
            "sha256:q", sweep="s", parameters={"a": 2}, manifest="m", lock="L", target="T"
        )
        db.record_point("sha256:q", sweep="t", parameters={}, manifest="n", lock="M", target="U")
        (found,) = db.points()
        assert (found.parameters, found.manifest, found.lock, found.target) == (
            {"a": 1},
            "m",
            "L",
            "T",
        )
        assert found.sweeps == ("s", "t")


def test_sweeps_and_where(url: str) -> None:
    with ResultsDB.open(url) as db:
        a = point(db, "sha256:a", "s1", **{"benchmark.threads": 1})
        b = point(db, "sha256:b", "s2", **{"benchmark.threads": 2})
        db.record_point("sha256:b", sweep="s1", parameters={}, manifest="", lock=None, target=None)
        ra = db.record_run(a, result())
        rb = db.record_run(b, result(valid=False, backend={"name": "openvino"}))
        assert [r.run_id for r in db.runs(sweep="s1")] == [ra, rb]
        assert [r.run_id for r in db.runs(sweep="s2")] == [rb]
        assert {r.sweep for r in db.runs(sweep="s1")} == {"s1"}
        assert [r.run_id for r in db.runs(where={"parameters.benchmark.threads": "2"})] == [rb]
        assert [r.run_id for r in db.runs(where={"valid": "false"})] == [rb]
        assert [r.run_id for r in db.runs(where={"backend.name": "onnxruntime"})] == [ra]
        assert [r.run_id for r in db.runs(where={"samples_per_second": "100"})] == [ra, rb]
        assert db.runs(where={"scenario": "Server"}) == []


def test_not_found_and_ambiguous_ids_are_diagnostics(url: str) -> None:
    with ResultsDB.open(url) as db:
        pid = point(db)
        db.record_run(pid, result())
        with pytest.raises(ResultsDBError) as caught:
            db.get("nope")
        assert isinstance(caught.value, MlenvError)
        assert caught.value.hint and "mlenv results list" in caught.value.hint
        point(db, "sha256:abc1")
        point(db, "sha256:abc2")
        with pytest.raises(ResultsDBError, match="names 2 runs or points"):
            db.get("abc")
        assert db.get("abc1").point_id == "sha256:abc1"  # type: ignore[union-attr]


def test_a_write_is_all_or_nothing(url: str) -> None:
    with ResultsDB.open(url) as db:
        pid = point(db)
        bad: Any = {"log": "not bytes"}
        with pytest.raises(TypeError):
            db.record_runs(pid, [(result(), {}), (result(sps=5.0), bad)])
        assert db.runs() == []  # the first document was not kept either


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    ResultsDB.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(update(S.meta).where(S.meta.c.key == "schema_version").values(value="99"))
    engine.dispose()
    with pytest.raises(ResultsDBError) as caught:
        ResultsDB.open(url)
    e = caught.value
    assert "schema version 99" in e.message and e.why and "newer mlenv" in e.why
    assert e.hint and "upgrade mlenv" in e.hint


def test_bad_urls_are_diagnostics(tmp_path: Path) -> None:
    with pytest.raises(ResultsDBError, match="not a database URL"):
        ResultsDB.open("no url at all")
    with pytest.raises(ResultsDBError, match="SQLite or PostgreSQL"):
        ResultsDB.open("mysql://u@localhost/db")
    with pytest.raises(ResultsDBError, match="could not be read or written") as caught:
        ResultsDB.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert caught.value.where and "secret" not in caught.value.where


def _writer(url: str, worker: int, count: int) -> None:
    with ResultsDB.open(url) as db:
        pid = f"sha256:w{worker}"
        db.record_point(
            pid, sweep="c", parameters={"w": worker}, manifest="", lock=None, target=None
        )
        for i in range(count):
            db.record_run(pid, result(sps=float(i)), logs={"shared.txt": b"same bytes"})
            db.record_run("sha256:shared", result(sps=float(i)))  # the others write it too


def test_concurrent_writers_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with ResultsDB.open(url) as db:
        db.record_point(
            "sha256:shared", sweep=None, parameters={}, manifest="", lock=None, target=None
        )
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(url, w, 15)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with ResultsDB.open(url) as db:
        rows = db.runs()
        assert len(rows) == 4 * 15 + 15  # every worker's runs, the shared ones once
        assert len({r.run_id for r in rows}) == len(rows)


def _batches(url: str, ready: Any) -> None:
    with ResultsDB.open(url) as db:
        db.record_point("sha256:k", sweep=None, parameters={}, manifest="", lock=None, target=None)
        for batch in range(10_000):
            docs = [(result(sps=float(batch * 100 + i)), {"l": b"x" * 2000}) for i in range(50)]
            db.record_runs("sha256:k", docs)
            ready.set()


def test_a_killed_writer_leaves_whole_batches(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing: every batch recorded is whole, none half-written."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    writer = ctx.Process(target=_batches, args=(url, ready))
    writer.start()
    assert ready.wait(60)
    time.sleep(0.3)
    writer.kill()
    writer.join(30)
    with ResultsDB.open(url) as db:
        count = len(db.runs())
        assert count >= 50 and count % 50 == 0
        db.record_runs("sha256:k", [(result(sps=-1.0), {})])  # and it is writable again
