"""The verdicts of `mlenv reproduce`: the comparison rules and the report pages (pure)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from mlenv.ops.reportview import render_html, render_markdown
from mlenv.ops.verdicts import Reproduction, badges, compare


def perf(scenario: str, sps: float, valid: bool = True) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "mode": "performance",
        "valid": valid,
        "samples_per_second": sps,
        "latency_ns": {"p50": 1000, "p90": 2000, "p99": 3000},
    }


def acc(scenario: str, top1: float) -> dict[str, Any]:
    return {"scenario": scenario, "mode": "accuracy", "accuracy": {"top1": top1}}


def verdict(recorded: list[dict[str, Any]], again: list[dict[str, Any]], tol: float = 5.0) -> Any:
    figures = compare(recorded, again, tol)
    return figures, {
        b.name: b
        for b in badges(
            missing=[],
            verified_files=3,
            local=[],
            failures=[],
            runs=len(again),
            figures=figures,
            tolerance=tol,
        )
    }


@pytest.mark.parametrize(
    ("reproduced", "ok"),
    [(1000.0, True), (1050.0, True), (950.0, True), (1050.2, False), (949.0, False), (0.0, False)],
)
def test_throughput_within_the_tolerance_either_way(reproduced: float, ok: bool) -> None:
    figures, got = verdict([perf("Offline", 1000.0)], [perf("Offline", reproduced)])
    sps = next(f for f in figures if f.metric == "samples_per_second")
    assert sps.ok is ok and sps.rule == "tolerance"
    assert got["reproduced"].awarded is ok
    if not ok:
        assert "Offline performance samples_per_second" in got["reproduced"].reasons[0]


def test_accuracy_must_match_exactly() -> None:
    _, same = verdict([acc("Offline", 0.9949916)], [acc("Offline", 0.9949916)])
    assert same["reproduced"].awarded
    figures, off = verdict([acc("Offline", 0.9949916)], [acc("Offline", 0.9949917)])
    assert not off["reproduced"].awarded and figures[0].ok is False


def test_validity_latency_and_missing_runs() -> None:
    figures, got = verdict([perf("Server", 100.0)], [perf("Server", 100.0, valid=False)])
    assert not got["reproduced"].awarded
    assert {f.metric: f.ok for f in figures}["valid"] is False
    info = [f for f in figures if f.rule == "info"]
    assert [f.metric for f in info] == ["latency_ns.p50", "latency_ns.p90", "latency_ns.p99"]
    assert all(f.ok is None for f in info)
    figures, got = verdict([perf("Offline", 1.0), acc("Offline", 0.5)], [])
    assert not got["reproduced"].awarded
    assert all(f.ok is False for f in figures if f.rule != "info")


def test_badges_need_each_other() -> None:
    figures = compare([acc("Offline", 0.5)], [acc("Offline", 0.5)], 5)
    common: dict[str, Any] = {"verified_files": 3, "local": [], "runs": 1, "tolerance": 5}
    broken = badges(missing=[], failures=["install: uv failed"], figures=figures, **common)
    assert [b.awarded for b in broken] == [True, False, False]
    partial = badges(missing=["wheel x.whl"], failures=[], figures=figures, **common)
    assert [b.awarded for b in partial] == [False, True, True]
    empty = badges(missing=[], failures=[], figures=[], **common)
    assert [b.awarded for b in empty] == [True, True, False]
    assert "no results" in empty[2].reasons[0]


def _report(figures: Any) -> Reproduction:
    return Reproduction(
        bundle="b<&>.tar",
        target="linux-x86_64-cpu",
        lock="sha256:" + "a" * 64,
        tolerance=5,
        badges=badges(
            missing=[],
            verified_files=9,
            local=["IMAGENET_DIR"],
            failures=[],
            runs=2,
            figures=figures,
            tolerance=5,
        ),
        figures=tuple(figures),
        env_differences=("pypi numpy: recorded 1, now 2",),
    )


def test_reports_are_self_contained() -> None:
    recorded = [perf("Offline", 1000.0), acc("Offline", 0.99), perf("SingleStream", 5.0)]
    again = [perf("Offline", 1010.0), acc("Offline", 0.99), perf("SingleStream", 6.0)]
    rep = _report(compare(recorded, again, 5))
    page = render_html(rep)
    assert page.startswith("<!DOCTYPE html>") and "b&lt;&amp;&gt;.tar" in page
    assert not re.search(r"\b(src|href)=", page) and "<link" not in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 5  # 2 throughput + 2 latency + accuracy
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "±5 %" in page and "not reproduced" in page
    text = render_markdown(rep)
    assert "| reproduced | **no** |" in text and "+20.00 %" in text
    assert "$IMAGENET_DIR" in text and "pypi numpy: recorded 1, now 2" in text
    assert rep.to_dict()["ok"] is False
