"""The report of `mlenv reproduce` as Markdown and as one self-contained HTML page (inline SVG
plots): presentation of a `Reproduction` (the verdicts are `mlenv.ops.verdicts`)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .verdicts import Figure, Reproduction, fmt

HARDWARE = (  # `mlenv.machine` facts, in the order shown
    ("cpu", "CPU"),
    ("cores", "cores"),
    ("cores_available", "cores available"),
    ("memory_bytes", "memory"),
    ("accelerators", "accelerators"),
)


def machine_rows(rep: Reproduction) -> list[tuple[str, str, str]]:
    """(fact, recorded, reproducing) for the hardware (CPU model, cores, memory, accelerators:
    the recorded result.json's `machine` vs this machine), then every fact of the locked target
    vs the reproducing host."""
    rows = []
    for key, label in HARDWARE:
        a, b = rep.recorded_hardware.get(key), rep.hardware.get(key)
        if key == "cores_available" and a is None and b is None:
            continue
        rows.append((label, _hardware(key, a), _hardware(key, b)))
    keys = sorted(set(rep.recorded_facts) | set(rep.machine))
    rows += [(k, _fact(rep.recorded_facts.get(k)), _fact(rep.machine.get(k))) for k in keys]
    return rows


def _hardware(key: str, value: Any) -> str:
    if key == "memory_bytes" and isinstance(value, int | float):
        return gib(value)
    if key == "accelerators" and isinstance(value, list):
        return "; ".join(_accelerator(a) for a in value) or "none"
    return _fact(value)


def gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def _accelerator(a: Any) -> str:
    if not isinstance(a, Mapping):
        return str(a)
    memory = a.get("memory_bytes")
    size = f" ({gib(memory)})" if isinstance(memory, int | float) else ""
    return f"{a.get('kind', '?')} {a.get('name') or '?'}{size}"


def _fact(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return "-" if value is None else str(value)


def rules(rep: Reproduction) -> str:
    """The comparison rules in one paragraph, with every widened tolerance."""
    text = (
        "Accuracy and validity must match exactly; throughput (the median of the repeated runs) "
        f"within {rep.tolerance:g} %"
    )
    widenings = rep.widenings()
    return text + (": " + "; ".join(widenings) + "." if widenings else ".")


def _status(f: Figure) -> str:
    return "info" if f.ok is None else ("ok" if f.ok else "FAIL")


def _delta(f: Figure) -> str:
    d = f.delta_pct
    return "" if d is None or f.metric == "valid" else f"{d:+.2f} %"


# -- Markdown ------------------------------------------------------------------------------------


def render_markdown(rep: Reproduction) -> str:
    lines = [
        f"# Reproduction of {rep.bundle}",
        "",
        f"Target `{rep.target}`, lock section `{rep.lock}`. {rules(rep)}",
        "",
        "| badge | verdict | why |",
        "| --- | --- | --- |",
    ]
    for b in rep.badges:
        why = "; ".join(b.reasons).replace("|", "\\|")
        lines.append(f"| {b.name} | {'**yes**' if b.awarded else '**no**'} | {why} |")
    lines += ["", "## Figures", ""]
    if rep.figures:
        lines += [
            "| scenario | mode | figure | recorded | reproduced | change | check |",
            "| --- | --- | --- | ---: | ---: | ---: | --- |",
        ]
        for f in rep.figures:
            lines.append(
                f"| {f.scenario} | {f.mode} | {f.metric} | {fmt(f.recorded)} | "
                f"{fmt(f.reproduced)} | {_delta(f)} | {_status(f)} |"
            )
    else:
        lines.append("No results were recorded in the bundle.")
    lines += [
        "",
        "## Machines",
        "",
        "| fact | recorded on | reproduced on |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {k} | {a} | {b} |" for k, a, b in machine_rows(rep)]
    lines += ["", "## Environment", ""]
    if rep.env_differences:
        lines += [f"- {d}" for d in rep.env_differences]
    else:
        lines.append("The reproduced environment holds the same files as the recorded one.")
    if rep.failures:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in rep.failures]
    if rep.paths:
        lines += ["", "## Files", ""] + [f"- {k}: `{v}`" for k, v in sorted(rep.paths.items())]
    return "\n".join(lines) + "\n"


# -- HTML with inline SVG ------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:62em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.yes{color:#176f2c;font-weight:bold}.no{color:#b3261e;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:1em}svg{background:#fafafa;border:1px solid #ddd}
"""
_COLORS = {"recorded": "#8a8f98", "reproduced": "#2b6cb0"}
_BAND = 'fill="#2f9e44" fill-opacity="0.22" stroke="#2f9e44"'


def bar_chart(
    title: str, rows: Sequence[tuple[str, Any, Any]], unit: str = "", tolerance: float | None = None
) -> str:
    """Horizontal bars, recorded (grey) over reproduced (blue), one pair per row; with a
    tolerance, the band the reproduced bar must end in is shaded green."""
    values = [v for _, a, b in rows for v in (a, b) if isinstance(v, int | float)]
    if tolerance is not None:
        values += [a * (1 + tolerance / 100) for _, a, _ in rows if isinstance(a, int | float)]
    width, left, bar, gap = 460, 120, 14, 10
    scale = (width - left - 90) / (max(values, default=0) or 1.0)
    height = 40 + len(rows) * (2 * bar + gap) + 20
    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{e(title)}">',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{e(title)}</text>',
    ]
    y = 32
    for label, rec, new in rows:
        parts.append(f'<text x="8" y="{y + bar + 4}" font-size="11">{e(label)}</text>')
        for i, (kind, value) in enumerate((("recorded", rec), ("reproduced", new))):
            ok = isinstance(value, int | float) and math.isfinite(float(value))
            length = scale * float(value) if ok else 0
            yy = y + i * bar
            parts.append(
                f'<rect x="{left}" y="{yy}" width="{max(length, 0):.1f}" height="{bar - 2}" '
                f'fill="{_COLORS[kind]}"><title>{kind}: {e(fmt(value))}{e(unit)}</title></rect>'
            )
            parts.append(
                f'<text x="{left + max(length, 0) + 4:.1f}" y="{yy + bar - 4}" font-size="10">'
                f"{e(fmt(value))}{e(unit)}</text>"
            )
        if tolerance is not None and isinstance(rec, int | float):
            lo, hi = rec * (1 - tolerance / 100) * scale, rec * (1 + tolerance / 100) * scale
            parts.append(
                f'<rect x="{left + max(lo, 0):.1f}" y="{y + bar - 2}" width="{hi - max(lo, 0):.1f}"'
                f' height="{bar + 2}" {_BAND}><title>±{tolerance:g} %</title></rect>'
            )
        y += 2 * bar + gap
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="{_COLORS["recorded"]}">'
        f'■ recorded</text><text x="{left + 80}" y="{height - 6}" font-size="10" '
        f'fill="{_COLORS["reproduced"]}">■ reproduced</text>'
    )
    if tolerance is not None:
        parts.append(
            f'<text x="{left + 175}" y="{height - 6}" font-size="10" fill="#2f9e44">'
            f"▢ within ±{tolerance:g} %</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def charts(figures: Sequence[Figure], tolerance: float) -> list[str]:
    out = []
    for scenario in sorted({f.scenario for f in figures}):
        own = [f for f in figures if f.scenario == scenario]
        sps = [f for f in own if f.metric == "samples_per_second"]
        if sps:
            rows = [("samples/s", f.recorded, f.reproduced) for f in sps]
            band = max((f.tolerance for f in sps if f.tolerance is not None), default=tolerance)
            out.append(bar_chart(f"{scenario}: throughput", rows, tolerance=band))
        lat = [f for f in own if f.metric.startswith("latency_ns.")]
        if lat:
            rows = [
                (
                    f.metric.split(".", 1)[1],
                    f.recorded / 1e6 if isinstance(f.recorded, int | float) else None,
                    f.reproduced / 1e6 if isinstance(f.reproduced, int | float) else None,
                )
                for f in lat
            ]
            out.append(bar_chart(f"{scenario}: latency", rows, " ms"))
    acc = [f for f in figures if f.mode == "accuracy"]
    if acc:
        rows = [(f"{f.scenario} {f.metric}", f.recorded, f.reproduced) for f in acc]
        out.append(bar_chart("accuracy", rows))
    return out


def render_html(rep: Reproduction) -> str:
    e = html.escape
    badge_rows = "".join(
        f"<tr><td>{e(b.name)}</td><td class='{'yes' if b.awarded else 'no'}'>"
        f"{'yes' if b.awarded else 'no'}</td><td>{'<br>'.join(e(r) for r in b.reasons)}</td></tr>"
        for b in rep.badges
    )
    figure_rows = "".join(
        f"<tr><td>{e(f.scenario)}</td><td>{e(f.mode)}</td><td>{e(f.metric)}</td>"
        f"<td class='num'>{e(fmt(f.recorded))}</td><td class='num'>{e(fmt(f.reproduced))}</td>"
        f"<td class='num'>{e(_delta(f))}</td><td class='{'no' if f.ok is False else ''}'>"
        f"{e(_status(f))}</td></tr>"
        for f in rep.figures
    )
    env = (
        "<ul>" + "".join(f"<li>{e(d)}</li>" for d in rep.env_differences) + "</ul>"
        if rep.env_differences
        else "<p>The reproduced environment holds the same files as the recorded one.</p>"
    )
    failures = (
        "<h2>Failures</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in rep.failures) + "</ul>"
        if rep.failures
        else ""
    )
    verdict = "reproduced" if rep.reproduced else "not reproduced"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Reproduction: {e(verdict)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Reproduction of {e(rep.bundle)}: "
        f"<span class='{'yes' if rep.reproduced else 'no'}'>{e(verdict)}</span></h1>"
        f"<p>Target <code>{e(rep.target)}</code>, lock section <code>{e(rep.lock)}</code>. "
        f"{e(rules(rep))}</p>"
        f"<table><tr><th>badge</th><th>verdict</th><th>why</th></tr>{badge_rows}</table>"
        f"<h2>Recorded vs reproduced</h2><div class='charts'>{''.join(charts(rep.figures, rep.tolerance))}</div>"
        "<table><tr><th>scenario</th><th>mode</th><th>figure</th><th>recorded</th>"
        f"<th>reproduced</th><th>change</th><th>check</th></tr>{figure_rows}</table>"
        "<h2>Machines</h2><table><tr><th>fact</th><th>recorded on</th><th>reproduced on</th></tr>"
        + "".join(
            f"<tr><td>{e(k)}</td><td>{e(a)}</td><td>{e(b)}</td></tr>"
            for k, a, b in machine_rows(rep)
        )
        + f"</table><h2>Environment</h2>{env}{failures}</body></html>\n"
    )
