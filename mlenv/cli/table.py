"""The summary table printed after `mlenv run`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table


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


def results_table(results: Sequence[dict[str, Any]]) -> Table:
    names = sorted({f"{r.get('benchmark')} on {r.get('dataset')}" for r in results})
    target = next((r.get("target", {}).get("name") for r in results), None)
    table = Table(title=f"{', '.join(names)} · {target}", title_justify="left", pad_edge=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for column in ("valid", "samples/s", "p50 ms", "p90 ms", "p99 ms", "accuracy"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        lat = r.get("latency_ns") or {}
        sps = r.get("samples_per_second")
        acc = r.get("accuracy") or {}
        perf = r.get("mode") == "performance"
        audit = r.get("compliance")
        mode = str(audit.get("test")) if isinstance(audit, dict) else str(r.get("mode"))
        table.add_row(
            str(r.get("scenario")),
            mode,
            _verdict(audit) if audit is not None else _validity(r.get("valid")) if perf else "",
            f"{sps:,.0f}" if perf and isinstance(sps, int | float) else "",
            *(
                (_ms(lat.get("p50")), _ms(lat.get("p90")), _ms(lat.get("p99")))
                if perf
                else ("", "", "")
            ),
            " ".join(f"{k} {v:.4f}" for k, v in acc.items() if isinstance(v, int | float)),
        )
    return table
