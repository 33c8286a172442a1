"""``latency_histogram.png``: how the latencies of a performance run spread, as a bar chart.

The bars count samples by latency as the harness measured it, from the moment its issue
callback ran to the completion call; LoadGen counts from the query's scheduled time, so its
figures also hold the wait before the callback runs (LoadGen's issue thread waking, the GIL).
The lines mark LoadGen's own p50 (green), p90 (orange) and p99 (red), labelled above the chart.
The x axis runs from the fastest sample (or the lowest mark) to the 99.9th percentile (or the
highest mark); slower samples are counted in the last bar.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from .png import draw_text, encode_png, text_width

HISTOGRAM = "latency_histogram.png"
WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 16, 16, 30, 26
BINS = 64
BAR = (70, 110, 170)
AXIS = (40, 40, 40)
MARKS = {"p50": (40, 150, 60), "p90": (230, 140, 20), "p99": (210, 40, 40)}


def latency_histogram(
    latencies_ns: NDArray[np.int64],
    weights: NDArray[np.int64],
    percentiles: Mapping[str, int | None],
    *,
    title: str,
) -> bytes:
    canvas = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    bottom = HEIGHT - BOTTOM
    canvas[bottom : bottom + 2, LEFT : WIDTH - RIGHT] = AXIS
    total = int(weights.sum()) if len(weights) else 0
    lo = hi = 0.0
    if total:
        lo, hi = _range(latencies_ns, weights)
        marked = [v for k, v in percentiles.items() if k in MARKS and v is not None]
        lo, hi = min([lo, *marked]), max([hi, *marked])
        edges = np.linspace(lo, hi, BINS + 1)
        counts, _ = np.histogram(np.clip(latencies_ns, lo, hi), bins=edges, weights=weights)
        plot_w = WIDTH - LEFT - RIGHT
        tallest = float(counts.max()) or 1.0
        for b, count in enumerate(counts):
            height = round((bottom - TOP) * float(count) / tallest)
            if height:
                x0 = LEFT + (b * plot_w) // BINS
                x1 = LEFT + ((b + 1) * plot_w) // BINS - 1
                canvas[bottom - height : bottom, x0:x1] = BAR
        x = LEFT
        for name, color in MARKS.items():
            value = percentiles.get(name)
            if value is None:
                continue
            if lo <= value <= hi:
                px = LEFT + int((value - lo) / (hi - lo or 1) * (plot_w - 1))
                canvas[TOP:bottom, px : px + 2] = color
            label = f"{name} {duration(value)}"
            draw_text(canvas, label, x, 8, color)
            x += text_width(label) + 24
        draw_text(canvas, duration(lo), LEFT, bottom + 8, AXIS)
        right = duration(hi)
        draw_text(canvas, right, WIDTH - RIGHT - text_width(right), bottom + 8, AXIS)
    shown = ", ".join(f"{k} {v} ns" for k, v in percentiles.items() if v is not None)
    return encode_png(
        canvas,
        {
            "Title": title,
            "Description": f"latency histogram of {total} samples, {BINS} bins from {lo:.0f} "
            f"to {hi:.0f} ns; LoadGen's {shown}",
            "Software": "mlenv harness",
        },
    )


def _range(values: NDArray[np.int64], weights: NDArray[np.int64]) -> tuple[float, float]:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    cut = int(np.searchsorted(cumulative, 0.999 * cumulative[-1]))
    lo = float(values[order[0]])
    hi = float(values[order[min(cut, len(order) - 1)]])
    return lo, (hi if hi > lo else lo + 1.0)


def duration(ns: float) -> str:
    if ns < 1e4:
        return f"{ns:.0f}ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f}us"
    if ns < 1e9:
        return f"{ns / 1e6:.2f}ms"
    return f"{ns / 1e9:.2f}s"
