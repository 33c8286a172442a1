"""The verdicts of `mlenv reproduce`: the comparison rules and the report pages (pure)."""

from __future__ import annotations

import dataclasses
import re
import statistics
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from mlenv.ops.measure import median_index
from mlenv.ops.measure import merge_repeats as merge
from mlenv.ops.reportview import render_html, render_markdown
from mlenv.ops.reproduce import calibrated_keys, repeats_for, rerun_settings
from mlenv.ops.verdicts import (
    SPREAD_FACTOR,
    Reproduction,
    badges,
    compare,
    spread_pct,
    throughputs,
    widened,
)


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


# -- repeated runs on a noisy machine ------------------------------------------------------------


def merge_repeats(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """As `mlenv run --repeat N` records them (`mlenv.ops.measure`)."""
    return merge(docs, median_index(docs))


def repeated(scenario: str, *sps: float, valid: bool = True) -> dict[str, Any]:
    """A result of `mlenv run --repeat N`: every repeat listed, the median at the top."""
    doc = merge_repeats([perf(scenario, s, valid) for s in sps])
    assert doc["valid"] is valid
    assert doc["samples_per_second"] == statistics.median(sps)
    return doc


def test_medians_of_the_repeats_are_compared() -> None:
    recorded = repeated("Offline", 1000.0, 1001.0, 999.0)
    # one slow outlier among the reproduced runs: the median (1000) holds, the spread widens
    figures, got = verdict([recorded], [repeated("Offline", 700.0, 1000.0, 1000.5)])
    sps = next(f for f in figures if f.metric == "samples_per_second")
    assert (sps.recorded, sps.reproduced, sps.runs) == (1000.0, 1000.0, (3, 3))
    assert got["reproduced"].awarded


@pytest.mark.parametrize(
    ("recorded", "reproduced", "tolerance", "ok"),
    [
        # spreads within 5 %: tolerance stays 5 %, +8 % fails
        ((100.0, 101.0, 102.0), (108.0, 108.5, 109.0), 5.0, False),
        # the reproduced runs spread 10 % (90..100 over median 95): tolerance 2 x 10.5 = 21 %
        ((100.0, 100.0, 100.0), (90.0, 95.0, 100.0), 21.05, True),
        # runs this noisy (110..130 over 120) cannot tell +20 % from noise
        ((100.0,), (110.0, 120.0, 130.0), 2 * 20 / 120 * 100, True),
        # steady runs 30 % faster are no reproduction
        ((100.0,), (129.0, 130.0, 131.0), 5.0, False),
        # one recorded run, one reproduced: no spread, no widening
        ((100.0,), (104.0,), 5.0, True),
    ],
)
def test_the_tolerance_widens_by_the_spread_of_the_runs(
    recorded: tuple[float, ...], reproduced: tuple[float, ...], tolerance: float, ok: bool
) -> None:
    figures = compare([repeated("Server", *recorded)], [repeated("Server", *reproduced)], 5.0)
    sps = next(f for f in figures if f.metric == "samples_per_second")
    assert sps.tolerance == pytest.approx(tolerance, abs=0.01) and sps.ok is ok


def test_the_spread_is_each_sides_own() -> None:
    """Pooled, the difference being judged would count as noise: recorded 100 (x3) against
    reproduced 80 (x3) would spread 22 % and pass a 44 % tolerance."""
    figures, got = verdict(
        [repeated("Offline", 100.0, 100.0, 100.0)], [repeated("Offline", 80.0, 80.0, 80.0)]
    )
    sps = next(f for f in figures if f.metric == "samples_per_second")
    assert sps.tolerance == 5.0 and sps.spread == 0.0 and sps.ok is False
    assert "-20.0 %, tolerance 5 %" in got["reproduced"].reasons[0]


def test_spread_and_widening_rules() -> None:
    assert spread_pct([]) is None and spread_pct([5.0]) is None and spread_pct([0.0, 0.0]) is None
    assert spread_pct([90.0, 100.0, 110.0]) == pytest.approx(20.0)
    assert widened(5.0, [100.0], [99.0, 101.0]) == (5.0, pytest.approx(2.0))  # 2 x 2 % < 5 %
    assert widened(5.0, [100.0], [90.0, 110.0]) == (pytest.approx(40.0), pytest.approx(20.0))
    assert widened(5.0, [], [1.0]) == (5.0, None)
    assert SPREAD_FACTOR == 2.0


def test_merged_repeats_are_valid_only_when_every_repeat_was() -> None:
    docs = [perf("Offline", 10.0), perf("Offline", 30.0, valid=False), perf("Offline", 20.0)]
    merged = merge_repeats(docs)
    assert merged["samples_per_second"] == 20.0 and merged["valid"] is False
    assert [r["samples_per_second"] for r in merged["repeats"]] == [10.0, 30.0, 20.0]
    assert merged["latency_ns"] == {"p50": 1000, "p90": 2000, "p99": 3000}
    assert throughputs(merged) == [10.0, 30.0, 20.0]
    assert throughputs({"samples_per_second": 7}) == [7.0] and throughputs({}) == []


def test_calibrated_settings_are_dropped_for_the_rerun() -> None:
    """The reproducing machine calibrates expected QPS/latency for itself; what the user fixed
    stays as recorded."""
    doc = {
        "mode": "performance",
        "settings": {"min_duration": 100, "target_qps": 5000.0, "target_latency": 2},
        "benchmark_config": {"calibrated": True, "calibrated_keys": ["target_qps", "max-batch"]},
    }
    assert rerun_settings(doc) == {"min_duration": 100, "target_latency": 2}
    assert rerun_settings({"settings": {"target_qps": 1}}) == {"target_qps": 1}  # absent: none
    assert rerun_settings({}) == {}
    assert calibrated_keys({"benchmark_config": None}) == set()
    assert repeats_for(doc, None) == 5 and repeats_for(doc, 1) == 1  # one run recorded
    assert repeats_for({**doc, "repeats": [{}] * 2}, None) == 3
    assert repeats_for({**doc, "repeats": [{}] * 7}, None) == 7
    assert repeats_for({"mode": "accuracy"}, 7) == 1


def test_the_report_states_the_widening_and_both_machines() -> None:
    recorded = [repeated("Offline", 100.0, 100.0, 100.0)]
    again = [repeated("Offline", 95.0, 100.0, 105.0)]
    figures = compare(recorded, again, 5)
    here = {"cpu": "Here CPU", "cores": 4, "memory_bytes": 8 * 2**30, "accelerators": []}
    there = {
        "cpu": "AMD EPYC 7763 64-Core Processor",
        "cores": 16,
        "cores_available": 8,
        "memory_bytes": 128 * 2**30,
        "accelerators": [{"kind": "cuda", "name": "NVIDIA H200", "memory_bytes": 141 * 2**30}],
    }
    rep = dataclasses.replace(
        _report(figures),
        recorded_hardware=there,
        hardware=here,
        badges=tuple(verdict(recorded, again)[1].values()),
    )
    assert rep.widenings() == [
        "Offline performance: tolerance 5 % widened to 20 % by the spread of the runs "
        "(10 % over 3 recorded and 3 reproduced run(s); x2)"
    ]
    text = render_markdown(rep)
    assert "tolerance 5 % widened to 20 % by the spread of the runs" in text
    assert "| CPU | AMD EPYC 7763 64-Core Processor | Here CPU |" in text
    assert "| cores | 16 | 4 |" in text and "| cores available | 8 | - |" in text
    assert "| memory | 128.0 GiB | 8.0 GiB |" in text
    assert "| accelerators | cuda NVIDIA H200 (141.0 GiB) | none |" in text
    page = render_html(rep)
    assert "widened to 20 %" in page and "AMD EPYC 7763" in page
    machines = rep.to_dict()["machines"]
    assert machines["recorded"]["cores"] == 16 and machines["reproduced"]["cpu"] == "Here CPU"
    assert "widened up to 20 %" in rep.badges[2].reasons[0]
