"""The latency histogram: a self-contained SVG with a title, labelled axes, one bar per
non-empty bin, LoadGen's and the harness's percentiles, and a legend naming both sources."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from mlenv_harness.results.histogram import MARKS, latency_histogram, weighted_percentile

SVG = "{http://www.w3.org/2000/svg}"
LOADGEN_MARKS = {"p50": 100_000, "p90": 113_000, "p99": 125_000}


def _parse(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return root


def _by_id(root: ET.Element, ident: str) -> ET.Element:
    found = root.find(f".//*[@id='{ident}']")
    assert found is not None, ident
    return found


def _text(element: ET.Element) -> str:
    return "".join(element.itertext())


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_title_axes_and_legend() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(100_000, 10_000, size=2000).astype(np.int64)
    root = _parse(latency_histogram(values, np.ones_like(values), LOADGEN_MARKS, title="m Server"))
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "m Server · 2000 samples"
    assert _text(_by_id(root, "title")) == "m Server · 2000 samples"
    assert _text(_by_id(root, "x-label")).startswith("latency (ms, ")
    assert _text(_by_id(root, "y-label")) == "samples per bin"
    legend = _text(_by_id(root, "legend"))
    assert "LoadGen" in legend and "harness-side" in legend
    assert "scheduled issue to completion" in _text(_by_id(root, "legend-loadgen"))
    assert "as the SUT timed it" in _text(_by_id(root, "legend-harness"))
    for name in MARKS:
        assert name in legend
    assert "0.1 ms" in legend and "0.113 ms" in legend and "0.125 ms" in legend  # LoadGen's
    lines = list(root.iter(f"{SVG}line"))
    assert sum(line.get("class") == "loadgen-mark" for line in lines) == 3
    assert sum(line.get("class") == "harness-mark" for line in lines) == 3
    bars = _bars(root)
    assert sum(int(b.get("data-count", "0")) for b in bars) == 2000  # slow ones in the last bar
    assert all(float(b.get("height", "0")) > 0 for b in bars)


def test_one_bar_per_non_empty_bin() -> None:
    values = np.array([1_000_000, 1_500_000, 2_000_000], dtype=np.int64)
    weights = np.array([5, 1, 3], dtype=np.int64)
    marks = {"p50": None, "p90": None, "p99": None}
    root = _parse(latency_histogram(values, weights, marks, title="t"))
    assert [int(b.get("data-count", "0")) for b in _bars(root)] == [5, 1, 3]
    assert "linear scale" in _text(_by_id(root, "x-label"))
    assert not [e for e in root.iter(f"{SVG}line") if e.get("class") == "loadgen-mark"]


def test_wide_spread_uses_log_bins() -> None:
    values = np.array([100_000, 1_000_000, 50_000_000], dtype=np.int64)
    root = _parse(latency_histogram(values, np.ones_like(values), LOADGEN_MARKS, title="t"))
    assert "log scale" in _text(_by_id(root, "x-label"))
    assert len(_bars(root)) == 3


def test_self_contained_and_escaped() -> None:
    values = np.arange(1, 200, dtype=np.int64) * 10_000
    data = latency_histogram(values, np.ones_like(values), LOADGEN_MARKS, title='<a href="x">&')
    root = _parse(data)
    assert root.find(f"{SVG}title").text == '<a href="x">& · 199 samples'  # type: ignore[union-attr]
    for element in root.iter():
        assert element.tag.startswith(SVG), element.tag  # no foreign elements
        assert element.tag not in (f"{SVG}script", f"{SVG}image", f"{SVG}use", f"{SVG}style")
        for key, value in element.attrib.items():
            assert "href" not in key and "url(" not in value and "http" not in value, key
    assert b"@import" not in data and b"<script" not in data


def test_no_samples() -> None:
    values = np.zeros(0, dtype=np.int64)
    root = _parse(latency_histogram(values, values, LOADGEN_MARKS, title="t"))
    assert not _bars(root)
    assert _text(_by_id(root, "x-label")) and _text(_by_id(root, "legend"))
    assert root.find(f"{SVG}title").text == "t · 0 samples"  # type: ignore[union-attr]


def test_weighted_percentile() -> None:
    values = np.array([10, 20, 30], dtype=np.int64)
    weights = np.array([1, 8, 1], dtype=np.int64)
    assert weighted_percentile(values, weights, 0.5) == 20
    assert weighted_percentile(values, weights, 0.9) == 20
    assert weighted_percentile(values, weights, 0.99) == 30
    assert weighted_percentile(values[:0], weights[:0], 0.5) is None


def test_one_batch_gets_one_bar_in_a_readable_range() -> None:
    """Offline with one big batch: every sample has the same latency."""
    values = np.array([27_217_441_980], dtype=np.int64)
    marks = {"p50": 27_217_441_980, "p90": 27_217_441_980, "p99": 27_217_441_980}
    root = _parse(latency_histogram(values, np.array([660]), marks, title="t"))
    assert [b.get("data-count") for b in _bars(root)] == ["660"]
    ticks = [_text(t) for t in _by_id(root, "x-ticks").iter(f"{SVG}text")]
    assert len(set(ticks)) == len(ticks) > 2 and all("e+" not in t for t in ticks)
    assert "27,217 ms" in _text(_by_id(root, "legend"))
