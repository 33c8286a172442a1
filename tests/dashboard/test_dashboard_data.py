"""The dashboard's data and pages without a browser: the fronts per pair of axes are
`mlenv.resultsdb.pareto`'s, hostile text from the database is escaped, the build is atomic
and refuses a folder it did not write, and `mlenv dashboard build --json` / its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlenv.dashboard.data import collect, front_of
from mlenv.dashboard.pages import data_js
from mlenv.dashboard.site import DashboardError, build_site
from mlenv.resultsdb import ResultsDB
from mlenv.resultsdb.pareto import groups

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def doc(sps: float, p90: float, *, mode: str = "performance", top1: float | None = None,
        benchmark: str = "m") -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "version": 1, "benchmark": benchmark, "dataset": "d", "scenario": "Offline",
        "mode": mode, "valid": True, "samples_per_second": sps,
        "latency_ns": {"p50": p90 / 2, "p90": p90, "p99": p90 * 2},
        "target": {"name": "host", "facts": {"os": "linux"}},
        "backend": {"name": "null", "version": "1.0"}, "settings": {"target_qps": 10},
        "energy": {"joules": sps / 100.0, "samples_per_joule": 100.0, "source": "rapl"},
    }  # fmt: skip
    if top1 is not None:
        out["accuracy"] = {"top1": top1}
    return out


def recorded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    figures = [(100, 5e6, 0.9), (200, 9e6, 0.8), (150, 4e6, 0.95), (90, 8e6, 0.7), (210, 2e7, 0.6)]
    with ResultsDB.open(url) as db:
        for i, (sps, p90, top1) in enumerate(figures):
            point = f"sha256:{i:064x}"
            db.record_point(point, sweep="s", parameters={"benchmark.threads": i, "tag": EVIL},
                            manifest=f"name: {EVIL}\n", lock=f"sha256:{i:064x}", target="host")  # fmt: skip
            db.record_run(point, doc(sps, p90), logs={"mlperf_log_summary.txt": EVIL.encode()})
            db.record_run(point, doc(0, 0, mode="accuracy", top1=top1))
        db.record_point("sha256:" + "e" * 64, sweep=None, parameters={}, manifest="",
                        lock=None, target=EVIL)  # fmt: skip
        db.record_run("sha256:" + "e" * 64, doc(50, 1e6, benchmark=EVIL))
    return url


def test_fronts_per_axis_pair_are_the_resultsdb_fronts(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    with ResultsDB.open(url) as db:
        site = collect(db, source="test")
        rows = db.runs()
    data = site.data
    keys = [a["key"] for a in data["axes"]]
    assert keys[:2] == ["samples_per_second", "accuracy.top1"] and "latency_ns.p90" in keys
    directions = {a["key"]: a["direction"] for a in data["axes"]}
    (mine,) = [g for g in data["groups"] if g["benchmark"] == "m"]
    for kx in keys:
        for ky in keys:
            want = groups([r for r in rows if r.benchmark == "m"],
                          {kx: directions[kx], ky: directions[ky]} if kx != ky else {kx: directions[kx]})  # fmt: skip
            assert set(front_of(mine, kx, ky)) == {r.run_id for r in want[0].front}, (kx, ky)
    # throughput against p90: 210 (slowest p90) and 150 (fastest p90) and 200 are on it
    sps_of = {r.run_id: r.document["samples_per_second"] for r in rows}
    front = {sps_of[i] for i in front_of(mine, "samples_per_second", "latency_ns.p90")}
    assert front == {150, 200, 210}
    # a performance run's accuracy comes from its point's accuracy run, as in `results pareto`
    assert sorted(v["accuracy.top1"] for v in mine["values"].values()) == [0.6, 0.7, 0.8, 0.9, 0.95]
    assert len(data["runs"]) == 11 and data["sweeps"] == [
        {"name": "s", "axes": ["benchmark.threads", "tag"]}
    ]


def test_hostile_text_is_escaped(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    with ResultsDB.open(url) as db:
        site = collect(db, source="test")
    js = data_js(site.data)
    assert "</" not in js and "<" not in js
    assert json.loads(js.removeprefix("window.MLENV_DATA = ").rstrip().rstrip(";")) == json.loads(
        json.dumps(site.data, default=str)
    )
    out = tmp_path / "site"
    assert build_site(site, out) == 11
    for page in (out / "runs").glob("*.html"):
        text = page.read_text()
        assert "<script" not in text and "<img src=x" not in text
    assert "&lt;/script&gt;" in next((out / "runs").glob("*.html")).read_text()


def test_the_build_is_atomic_and_keeps_foreign_folders(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    with ResultsDB.open(url) as db:
        site = collect(db, source="test")
    out = tmp_path / "site"
    build_site(site, out)
    build_site(site, out)  # again: replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.db", "site"]
    assert {"index.html", "data.js", "dashboard.js", "dashboard.css", "plotly.min.js"} <= {
        p.name for p in out.iterdir()
    }
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(DashboardError, match="is not a dashboard mlenv built"):
        build_site(site, foreign)
    assert (foreign / "notes.txt").read_text() == "keep"


def _mlenv(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlenv", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def test_cli_build_json_and_errors(tmp_path: Path) -> None:
    url = recorded(tmp_path)
    (tmp_path / "mlenv.yaml").write_text("name: x\n")
    done = _mlenv(tmp_path, "--json", "dashboard", "build", "--results", url)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data["runs"] == 11 and data["path"] == str(tmp_path / ".mlenv" / "dashboard")
    assert (tmp_path / ".mlenv" / "dashboard" / "index.html").is_file()
    missing = _mlenv(tmp_path, "--json", "dashboard", "build", "--results",
                     f"sqlite:///{tmp_path / 'none.db'}")  # fmt: skip
    assert missing.returncode == 1
    assert "no results recorded yet" in json.loads(missing.stdout)["error"]["message"]
    foreign = _mlenv(tmp_path, "dashboard", "build", "--results", url, "-o", str(tmp_path))
    assert foreign.returncode == 1 and "not a dashboard" in foreign.stderr


def test_cli_serve_answers_on_127_0_0_1_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import re
    import signal
    import urllib.request

    url = recorded(tmp_path)
    (tmp_path / "mlenv.yaml").write_text("name: x\n")
    args = ["--json", "dashboard", "serve", "--port", "0", "--results", url]
    proc = subprocess.Popen([sys.executable, "-m", "mlenv", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stderr is not None
        seen = ""
        while not (found := re.search(r"http://127\.0\.0\.1:\d+/", seen)):
            line = proc.stderr.readline()
            assert line, f"the server ended before it served: {seen}"
            seen += line.strip()
        with urllib.request.urlopen(found.group(0) + "index.html", timeout=10) as answer:
            assert b"mlenv results" in answer.read()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    data = json.loads(out)["data"]
    assert data["url"] == found.group(0) and data["built"]["runs"] == 11
