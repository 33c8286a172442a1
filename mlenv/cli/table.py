"""The summary table printed after `mlenv run` (and `mlenv reproduce`).

No figure is ever cut: the full table where it fits; narrower, one `run` column (scenario and
mode), no p50, metrics stacked; narrower still (or many metrics), one small block per run.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table

Row = dict[str, Any]
_SHORT_MODES = {"performance": "perf", "accuracy": "acc"}


def _ms(ns: Any) -> str:
    return f"{ns / 1e6:.3f}" if isinstance(ns, int | float) else "-"


def _validity(valid: Any) -> str:
    return (
        "[green]VALID[/green]" if valid is True else "[red]INVALID[/red]" if valid is False else "-"
    )


def _verdict(compliance: Any) -> str:
    passed = compliance.get("pass") if isinstance(compliance, dict) else None
    return (
        "[green]PASS[/green]" if passed is True else "[red]FAIL[/red]" if passed is False else "-"
    )


def _facts(r: Row) -> dict[str, Any]:
    """One run's cells, as text (empty where the mode has no such figure)."""
    lat = r.get("latency_ns") or {}
    sps = r.get("samples_per_second")
    acc = r.get("accuracy") or {}
    perf = r.get("mode") == "performance"
    audit = r.get("compliance")
    mode = str(audit.get("test")) if isinstance(audit, dict) else str(r.get("mode"))
    return {
        "scenario": str(r.get("scenario")),
        "mode": mode,
        "valid": _verdict(audit)
        if audit is not None
        else _validity(r.get("valid"))
        if perf
        else "",
        "samples/s": f"{sps:,.0f}" if perf and isinstance(sps, int | float) else "",
        **{f"{p} ms": _ms(lat.get(p)) if perf else "" for p in ("p50", "p90", "p99")},
        # (metric, value, its accuracy target's parts or None)
        "accuracy": [
            (k, f"{v:.4f}", target_parts(r.get("accuracy_target"), k))
            for k, v in acc.items()
            if isinstance(v, int | float)
        ],
    }


Parts = tuple[str, str, str, str]  # reference, share asked (`99%`), target, verdict


def target_parts(target: Any, metric: str) -> Parts | None:
    """result.json's `accuracy_target` as text, when it judges `metric`."""
    if not isinstance(target, dict) or target.get("metric") != metric:
        return None
    try:
        ref, fraction, goal = (float(target[k]) for k in ("reference", "fraction", "target"))
    except (KeyError, TypeError, ValueError):
        return None
    verdict = "[green]met[/green]" if target.get("met") is True else "[red]not met[/red]"
    return f"{ref:.4f}", f"{fraction * 100:g}%", f"{goal:.4f}", verdict


def target_note(target: Any, metric: str) -> str:
    """` (ref 0.9000, 99% = 0.8910: met)` beside the metric the model's reference judges."""
    return _note(target_parts(target, metric))


def _note(parts: Parts | None) -> str:
    if parts is None:
        return ""
    ref, share, goal, verdict = parts
    return f" (ref {ref}, {share} = {goal}: {verdict})"


def _metric(name: str, value: str, parts: Parts | None) -> str:
    """One accuracy line: `top1 0.9950 (ref 0.9000, 99% = 0.8910: met)`."""
    return f"{name} {value}{_note(parts)}"


def _title(results: Sequence[Row]) -> str:
    names = sorted({f"{r.get('benchmark')} on {r.get('dataset')}" for r in results})
    target = next((r.get("target", {}).get("name") for r in results), None)
    how = [str(p) for p in dict.fromkeys(r.get("profile") for r in results) if p]
    repeats = max(
        (len(r["repeats"]) for r in results if isinstance(r.get("repeats"), list)), default=1
    )
    if repeats > 1:
        how.append(f"medians of {repeats} repeats")
    return f"{', '.join(names)} · {target}" + (f" · {', '.join(how)}" if how else "")


def _wide(results: Sequence[Row]) -> Table:
    table = Table(title=_title(results), title_justify="left", pad_edge=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    figures = ("valid", "samples/s", "p50 ms", "p90 ms", "p99 ms")
    for column in (*figures, "accuracy"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        f = _facts(r)
        table.add_row(
            f["scenario"],
            f["mode"],
            *(f[c] for c in figures),
            " ".join(_metric(*m) for m in f["accuracy"]),
        )
    return table


def _compact(results: Sequence[Row]) -> Table:
    table = Table(title=_title(results), title_justify="left", pad_edge=False, box=box.SIMPLE_HEAD)
    table.add_column("run", no_wrap=True)
    figures = ("valid", "samples/s", "p90 ms", "p99 ms")
    for column in (*figures, "accuracy"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        f = _facts(r)
        run = f"{f['scenario']} {_SHORT_MODES.get(f['mode'], f['mode'])}"
        table.add_row(run, *(f[c] for c in figures), "\n".join(_metric(*m) for m in f["accuracy"]))
    return table


def _blocks(results: Sequence[Row]) -> Group:
    """One small two-column block per run: narrow enough for any terminal."""
    parts: list[RenderableType] = [f"[bold]{_title(results)}[/bold]"]
    for r in results:
        f = _facts(r)
        parts.append(f"{f['scenario']} {f['mode']}")
        block = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
        block.add_column(no_wrap=True)
        block.add_column(justify="right", no_wrap=True)
        for key in ("valid", "samples/s", "p50 ms", "p90 ms", "p99 ms"):
            if f[key]:
                block.add_row(key, f[key])
        for name, value, target in f["accuracy"]:
            block.add_row(name, value)
            if target is not None:  # one figure a row: narrow enough
                ref, share, goal, verdict = target
                block.add_row("  reference", ref)
                block.add_row(f"  {share} of it", goal)
                block.add_row("  target", verdict)
        parts.append(block)
    return Group(*parts)


def _width(renderable: RenderableType) -> int:
    console = Console(file=io.StringIO(), width=10_000)
    return Measurement.get(console, console.options, renderable).maximum


def results_table(results: Sequence[Row], width: int | None = None) -> RenderableType:
    """The summary of `results`; within `width` columns (when given) without cutting a figure."""
    layouts: tuple[Callable[[Sequence[Row]], RenderableType], ...] = (_wide, _compact)
    for layout in layouts:
        table = layout(results)
        if width is None or _width(table) <= width:
            return table
    return _blocks(results)
