"""A Pareto scatter as one self-contained SVG (no script, no external style or font): a panel per
(benchmark, scenario), the first two objectives on the axes, the front in colour and joined,
dominated runs grey. Hovering a point shows its run id, parameters and values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .pareto import Group

WIDTH, PANEL = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 50, 60
FRONT, DOMINATED = "#d62728", "#8c8c8c"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _label(value: float) -> str:
    if abs(value) >= 1e7:
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _padded(lo: float, hi: float) -> tuple[float, float]:
    pad = (hi - lo) * 0.04 or 1.0
    return lo - pad, hi + pad


def _scale(key: str) -> tuple[float, str]:
    """Latencies are recorded in ns and read in ms."""
    return (1e-6, f"{key} (ms)") if key.startswith("latency_ns") else (1.0, key)


def _panel(group: Group, top: float) -> list[str]:
    keys = list(group.objectives)[:2]
    if len(keys) < 2:
        keys = [*keys, *keys][:2]
    (kx, ky), out = keys, []
    (fx, lx), (fy, ly) = _scale(kx), _scale(ky)
    pts = []
    for row, values, keep in zip(group.candidates, group.values, group.on_front, strict=True):
        named = dict(zip(group.objectives, values, strict=True))
        x, y = named.get(kx), named.get(ky)
        if x is not None and y is not None:
            pts.append((x * fx, y * fy, keep, row, named))
    title = (
        f"{group.benchmark} · {group.scenario}: {sum(p[2] for p in pts)} on the front of {len(pts)}"
    )
    out.append(f'<text x="{LEFT}" y="{top + 28}" class="title">{escape(title)}</text>')
    if not pts:
        return out
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    tx, ty = _ticks(min(xs), max(xs)), _ticks(min(ys), max(ys))
    x0, x1 = _padded(min(tx[0], min(xs)), max(tx[-1], max(xs)))
    y0, y1 = _padded(min(ty[0], min(ys)), max(ty[-1], max(ys)))
    w, h = WIDTH - LEFT - RIGHT, PANEL - TOP - BOTTOM

    def sx(v: float) -> float:
        return LEFT + (v - x0) / ((x1 - x0) or 1) * w

    def sy(v: float) -> float:
        return top + TOP + h - (v - y0) / ((y1 - y0) or 1) * h

    base = top + TOP + h
    out.append(f'<rect x="{LEFT}" y="{top + TOP}" width="{w}" height="{h}" class="frame"/>')
    for t in tx:
        out.append(
            f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top + TOP}" y2="{base}" class="grid"/>'
        )
        out.append(
            f'<text x="{sx(t):.1f}" y="{base + 18}" class="tick" text-anchor="middle">{_label(t)}</text>'
        )
    for t in ty:
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{sy(t) + 4:.1f}" class="tick" text-anchor="end">{_label(t)}</text>'
        )
    out.append(
        f'<text x="{LEFT + w / 2}" y="{base + 42}" class="axis" text-anchor="middle">{escape(f"{lx} ({group.objectives[kx]})")}</text>'
    )
    out.append(
        f'<text transform="translate({LEFT - 62},{top + TOP + h / 2}) rotate(-90)" class="axis" '
        f'text-anchor="middle">{escape(f"{ly} ({group.objectives[ky]})")}</text>'
    )
    front = sorted((p for p in pts if p[2]), key=lambda p: (p[0], p[1]))
    if len(front) > 1:
        path = " ".join(f"{sx(p[0]):.1f},{sy(p[1]):.1f}" for p in front)
        out.append(f'<polyline points="{path}" class="front"/>')
    for x, y, on_front, row, named in sorted(pts, key=lambda p: p[2]):
        tip = [f"run {row.run_id}", *(f"{k} = {v}" for k, v in row.parameters.items())]
        tip += [f"{k}: {'-' if v is None else _label(v)}" for k, v in named.items()]
        cls, r = ("on", 5.5) if on_front else ("off", 4)
        out.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{r}" class="{cls}">'
            f"<title>{escape(chr(10).join(tip))}</title></circle>"
        )
    return out


def scatter_svg(groups: Sequence[Group], title: str = "Pareto front") -> str:
    height = TOP + PANEL * max(1, len(groups))
    body = [f'<text x="{LEFT}" y="30" class="heading">{escape(title)}</text>']
    for i, group in enumerate(groups):
        body += _panel(group, TOP + i * PANEL)
    if not groups:
        body.append(
            f'<text x="{LEFT}" y="{TOP + 40}" class="title">no successful performance runs</text>'
        )
    style = (
        "text{font-family:sans-serif;fill:#222}.heading{font-size:18px;font-weight:bold}"
        ".title{font-size:14px}.tick{font-size:11px}.axis{font-size:12px}"
        f".frame{{fill:none;stroke:#444}}.grid{{stroke:#e5e5e5}}"
        f".front{{fill:none;stroke:{FRONT};stroke-width:1.5}}"
        f".on{{fill:{FRONT};stroke:#fff}}.off{{fill:none;stroke:{DOMINATED};stroke-width:1.5}}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">\n<style>{style}</style>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )
