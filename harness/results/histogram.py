"""``latency_histogram.svg``: how the latencies of a performance run spread, as a bar chart.

Two sources of latency, drawn so that they can be told apart:

- the bars count samples by the latency the harness itself timed (the SUT's view): from the
  moment its issue callback ran to the completion call (``loadgen/sut.py``). These are the only
  per-sample latencies the harness has; LoadGen keeps its own in its logs only as percentiles.
- the solid lines are LoadGen's p50, p90 and p99 (from ``mlperf_log_detail.txt``): LoadGen
  counts from the query's scheduled issue time to the completion, so its figures also hold the
  wait before the callback runs (LoadGen's issue thread waking, the GIL). The dashed lines are
  the same percentiles of the bars, for comparison.

The x axis (milliseconds) runs from the fastest sample (or the lowest mark) to the 99.9th
percentile of the bars (or the highest mark); slower samples are counted in the last bar. The
bins are logarithmic when the range spans a factor of 8 or more, else linear. The file is plain,
self-contained SVG 1.1: no scripts, no external fonts, styles or links.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from numpy.typing import NDArray

HISTOGRAM = "latency_histogram.svg"
WIDTH, HEIGHT = 760, 520
LEFT, RIGHT, TOP, PLOT_BOTTOM = 72, 24, 78, 330  # the plot area
BINS = 60
LOG_SPAN = 8.0  # log bins from hi/lo >= this
BAR = "#4a6eaa"
AXIS = "#282828"
MARKS: Mapping[str, str] = {"p50": "#289640", "p90": "#e68c14", "p99": "#d22828"}
FONT = "font-family:sans-serif"
LOADGEN = "LoadGen: scheduled issue to completion, as LoadGen measures it (solid lines)"
HARNESS = "harness-side: issue callback to completion, as the SUT timed it (bars, dashed lines)"


def latency_histogram(
    latencies_ns: NDArray[np.int64],
    weights: NDArray[np.int64],
    percentiles: Mapping[str, int | None],
    *,
    title: str,
) -> bytes:
    """The SVG (UTF-8) of harness-side latencies with LoadGen's ``percentiles`` marked."""
    total = int(weights.sum()) if len(weights) else 0
    heading = f"{title} · {total} samples"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" style="{FONT}">',
        f"<title>{escape(heading)}</title>",
        f"<desc>{escape(_description(total, percentiles))}</desc>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        _text(LEFT, 28, heading, size=16, weight="bold", id_="title"),
    ]
    own = {name: weighted_percentile(latencies_ns, weights, _fraction(name)) for name in MARKS}
    scale = "linear"
    if total:
        lo, hi = _range(latencies_ns, weights)
        marked = [v for k, v in percentiles.items() if k in MARKS and v is not None]
        lo, hi = min([lo, *marked]), max([hi, *marked])
        if hi - lo < max(1e-3 * lo, 1e3):  # one value (a single batch): widen around it
            margin = max(0.05 * lo, 1e3)
            lo, hi = max(lo - margin, 0.0), hi + margin
        log = lo > 0 and hi / lo >= LOG_SPAN
        scale = "log" if log else "linear"
        edges = np.geomspace(lo, hi, BINS + 1) if log else np.linspace(lo, hi, BINS + 1)
        counts, _ = np.histogram(np.clip(latencies_ns, lo, hi), bins=edges, weights=weights)
        axis = _Axis(lo, hi, log=log)
        out += _bars(edges, counts, axis)
        out += _x_ticks(axis)
        out += _y_ticks(float(counts.max()))
        out += _marks(axis, percentiles, own)
    else:
        out.append(_text(WIDTH / 2, (TOP + PLOT_BOTTOM) / 2, "no samples", anchor="middle"))
    out += _axes(scale)
    out += _legend(percentiles, own)
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode("utf-8")


def weighted_percentile(
    values: NDArray[np.int64], weights: NDArray[np.int64], fraction: float
) -> int | None:
    """The smallest value with at least ``fraction`` of the total weight at or below it."""
    if not len(values) or int(weights.sum()) <= 0:
        return None
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    cut = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return int(values[order[min(cut, len(order) - 1)]])


class _Axis:
    """Latency (ns) to x pixels, linear or logarithmic."""

    def __init__(self, lo: float, hi: float, *, log: bool) -> None:
        self.lo, self.hi, self.log = lo, hi, log

    def x(self, ns: float) -> float:
        if self.log:
            share = math.log(ns / self.lo) / math.log(self.hi / self.lo)
        else:
            share = (ns - self.lo) / (self.hi - self.lo)
        return LEFT + share * (WIDTH - LEFT - RIGHT)


def _bars(edges: NDArray[np.float64], counts: NDArray[np.float64], axis: _Axis) -> list[str]:
    tallest = float(counts.max()) or 1.0
    out = ['<g id="bars">']
    for b, count in enumerate(counts):
        if count <= 0:
            continue
        x0, x1 = axis.x(float(edges[b])), axis.x(float(edges[b + 1]))
        height = (PLOT_BOTTOM - TOP) * float(count) / tallest
        tip = f"{_ms(edges[b])}–{_ms(edges[b + 1])} ms: {int(count)} samples"
        out.append(
            f'<rect class="bar" x="{x0:.1f}" y="{PLOT_BOTTOM - height:.1f}" '
            f'width="{max(x1 - x0 - 1.0, 0.5):.1f}" height="{height:.1f}" fill="{BAR}" '
            f'data-count="{int(count)}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</g>")
    return out


def _x_ticks(axis: _Axis) -> list[str]:
    out = ['<g id="x-ticks">']
    for ns in _ticks(axis.lo, axis.hi, log=axis.log):
        x = axis.x(ns)
        out.append(_line(x, PLOT_BOTTOM, x, PLOT_BOTTOM + 5, AXIS))
        out.append(_text(x, PLOT_BOTTOM + 19, _ms(ns), anchor="middle"))
    out.append("</g>")
    return out


def _y_ticks(tallest: float) -> list[str]:
    out = ['<g id="y-ticks">']
    for count in _nice(0.0, tallest, 4):
        y = PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * count / (tallest or 1.0)
        out.append(_line(LEFT - 5, y, LEFT, y, AXIS))
        out.append(_text(LEFT - 8, y + 4, f"{count:g}", anchor="end"))
    out.append("</g>")
    return out


def _marks(
    axis: _Axis, loadgen: Mapping[str, int | None], own: Mapping[str, int | None]
) -> list[str]:
    out = ['<g id="percentiles">']
    for i, (name, color) in enumerate(MARKS.items()):
        theirs, ours = loadgen.get(name), own.get(name)
        if ours is not None:
            x = axis.x(ours)
            out.append(_line(x, TOP, x, PLOT_BOTTOM, color, dashed=True, cls="harness-mark"))
        if theirs is not None:
            x = axis.x(theirs)
            out.append(_line(x, TOP - 4, x, PLOT_BOTTOM, color, cls="loadgen-mark"))
            right = x > WIDTH - RIGHT - 30
            out.append(
                _text(
                    x - 3 if right else x + 3,
                    TOP - 6 - 12 * (2 - i),
                    name,
                    color=color,
                    weight="bold",
                    anchor="end" if right else "start",
                )
            )
    out.append("</g>")
    return out


def _axes(scale: str) -> list[str]:
    middle = (TOP + PLOT_BOTTOM) / 2
    return [
        _line(LEFT, PLOT_BOTTOM, WIDTH - RIGHT, PLOT_BOTTOM, AXIS),
        _line(LEFT, TOP, LEFT, PLOT_BOTTOM, AXIS),
        _text(
            (LEFT + WIDTH - RIGHT) / 2,
            PLOT_BOTTOM + 40,
            f"latency (ms, {scale} scale)",
            anchor="middle",
            id_="x-label",
        ),
        f'<text id="y-label" x="20" y="{middle:.1f}" font-size="12" text-anchor="middle" '
        f'fill="{AXIS}" transform="rotate(-90 20 {middle:.1f})">samples per bin</text>',
    ]


def _legend(loadgen: Mapping[str, int | None], own: Mapping[str, int | None]) -> list[str]:
    top = PLOT_BOTTOM + 62
    out = [
        '<g id="legend">',
        f'<rect x="{LEFT - 8}" y="{top - 14}" width="{WIDTH - LEFT - RIGHT + 16}" height="112" '
        f'fill="none" stroke="#c8c8c8"/>',
        f'<rect x="{LEFT}" y="{top - 9}" width="24" height="10" fill="{BAR}"/>',
        _text(LEFT + 32, top, HARNESS, id_="legend-harness"),
        _line(LEFT, top + 18, LEFT + 24, top + 18, AXIS),
        _text(LEFT + 32, top + 22, LOADGEN, id_="legend-loadgen"),
        _text(LEFT + 32, top + 44, "percentile", weight="bold"),
        _text(LEFT + 132, top + 44, "LoadGen", weight="bold"),
        _text(LEFT + 232, top + 44, "harness-side", weight="bold"),
    ]
    for i, (name, color) in enumerate(MARKS.items()):
        y = top + 62 + 16 * i
        out.append(_line(LEFT, y - 4, LEFT + 11, y - 4, color))
        out.append(_line(LEFT + 13, y - 4, LEFT + 24, y - 4, color, dashed=True))
        out.append(_text(LEFT + 32, y, name, color=color, weight="bold"))
        out.append(_text(LEFT + 132, y, _shown(loadgen.get(name))))
        out.append(_text(LEFT + 232, y, _shown(own.get(name))))
    out.append("</g>")
    return out


def _description(total: int, percentiles: Mapping[str, int | None]) -> str:
    shown = ", ".join(f"{k} {v} ns" for k, v in percentiles.items() if v is not None)
    return (
        f"latency histogram of {total} samples as the harness timed them (issue callback to "
        f"completion); LoadGen's percentiles (scheduled issue to completion): {shown or 'none'}"
    )


def _ticks(lo: float, hi: float, *, log: bool) -> list[float]:
    if not log:
        return _nice(lo, hi, 6)
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for step in (1.0, 2.0, 5.0):
            value = step * 10.0**k
            if lo <= value <= hi:
                out.append(value)
    return out


def _nice(lo: float, hi: float, count: int) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) from lo to hi."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _range(values: NDArray[np.int64], weights: NDArray[np.int64]) -> tuple[float, float]:
    lo = float(values.min())
    hi = float(weighted_percentile(values, weights, 0.999) or lo)
    return lo, (hi if hi > lo else lo + 1.0)


def _fraction(name: str) -> float:
    return int(name[1:]) / 100.0


def _ms(ns: float) -> str:
    """Milliseconds with about four significant digits, never in exponent form."""
    ms = float(ns) / 1e6
    if ms >= 1000:
        return f"{ms:,.0f}"
    if ms >= 1 or ms == 0:
        return f"{ms:.4g}"
    return f"{ms:.{min(3 - math.floor(math.log10(ms)), 9)}f}".rstrip("0").rstrip(".")


def _shown(ns: int | None) -> str:
    return "–" if ns is None else f"{_ms(ns)} ms"


def _line(
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    color: str,
    *,
    dashed: bool = False,
    cls: str | None = None,
) -> str:
    extra = ' stroke-dasharray="5 3"' if dashed else ""
    extra += f' class="{cls}"' if cls else ""
    return (
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{color}" '
        f'stroke-width="{2 if cls else 1}"{extra}/>'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = 12,
    anchor: str = "start",
    color: str = AXIS,
    weight: str = "normal",
    id_: str | None = None,
) -> str:
    attrs: Sequence[str] = (
        f'x="{x:.1f}"',
        f'y="{y:.1f}"',
        f'font-size="{size}"',
        f'text-anchor="{anchor}"',
        f'fill="{color}"',
        f'font-weight="{weight}"',
    )
    ident = f" id={quoteattr(id_)}" if id_ else ""
    return f"<text{ident} {' '.join(attrs)}>{escape(text)}</text>"
