"""The results database as the dashboard's data: one JSON-ready record per run (the table's
columns), the plot axes, the Pareto fronts and a run's page details.

The fronts are `mlenv.resultsdb.pareto`'s, computed here for every pair of axes and every
(benchmark, scenario), so the page and `mlenv results pareto` share one definition of
"non-dominated": the page only looks up the front of the axes the user picks.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlenv.resultsdb import ResultsDB, RunRow
from mlenv.resultsdb.pareto import groups

# the axes a plot may use: (dotted key, direction, label); accuracy metrics are added per data set
AXES: tuple[tuple[str, str, str], ...] = (
    ("samples_per_second", "max", "samples/s"),
    ("latency_ns.p50", "min", "p50 latency (ns)"),
    ("latency_ns.p90", "min", "p90 latency (ns)"),
    ("latency_ns.p99", "min", "p99 latency (ns)"),
    ("energy.joules", "min", "energy (J)"),
    ("energy.samples_per_joule", "max", "samples per joule"),
    ("model.bytes", "min", "model size (bytes)"),
    ("model.parameters", "min", "model parameters"),
    ("memory.peak_rss_bytes", "min", "peak RSS (bytes)"),
)
SUMMARY = "mlperf_log_summary.txt"
HISTOGRAM = "latency_histogram.svg"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetail:
    """What a run's own page shows beyond its table record."""

    row: RunRow
    manifest: str
    summary: str | None = None  # LoadGen's mlperf_log_summary.txt
    histogram: bytes | None = None  # the run's latency_histogram.svg


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteData:
    data: dict[str, Any]  # window.MLENV_DATA
    details: tuple[RunDetail, ...] = field(default_factory=tuple)


def page_name(run_id: str) -> str:
    """The file name of a run's page (ids are hex; anything else is made safe)."""
    return _SAFE.sub("_", run_id) or "run"


def collect(db: ResultsDB, *, source: str) -> SiteData:
    """Every run of the database, its points' manifests and the logs its page shows."""
    rows = db.runs()
    manifests = {p.point_id: p.manifest for p in db.points()}
    details = tuple(_detail(db, r, manifests.get(r.point_id, "")) for r in rows)
    return SiteData(data=site_data(rows, db.sweeps(), source=source), details=details)


def _detail(db: ResultsDB, row: RunRow, manifest: str) -> RunDetail:
    summary = histogram = None
    if SUMMARY in row.logs:
        summary = db.log(row.logs[SUMMARY]).decode("utf-8", errors="replace")
    if HISTOGRAM in row.logs:
        histogram = db.log(row.logs[HISTOGRAM])
    return RunDetail(row=row, manifest=manifest, summary=summary, histogram=histogram)


def site_data(
    rows: Sequence[RunRow], sweeps: Mapping[str, Mapping[str, Any]], *, source: str
) -> dict[str, Any]:
    """window.MLENV_DATA: runs, axes, per-group values and fronts, sweeps."""
    axes = axes_of(rows)
    objectives = {key: direction for key, direction, _ in axes}
    return {
        "version": 1,
        "source": source,
        "runs": [run_record(r) for r in rows],
        "axes": [{"key": k, "direction": d, "label": label} for k, d, label in axes],
        "groups": plot_groups(rows, objectives),
        "sweeps": sweep_axes(rows, sweeps),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def axes_of(rows: Iterable[RunRow]) -> list[tuple[str, str, str]]:
    """The axes some successful run has a number for, accuracy metrics after the throughput."""
    ok = [r for r in rows if r.status == "ok"]
    out = [(k, d, label) for k, d, label in AXES if any(_number(r.value(k)) for r in ok)]
    metrics: list[str] = []
    for r in ok:
        accuracy = r.document.get("accuracy")
        if isinstance(accuracy, Mapping):
            metrics += [m for m, v in accuracy.items() if _number(v) is not None]
    for metric in dict.fromkeys(metrics):
        out.insert(1, (f"accuracy.{metric}", "max", f"accuracy ({metric})"))
    return out


def _accelerator(row: RunRow) -> str:
    named = row.parameters.get("accelerator")
    if isinstance(named, str) and named:
        return named
    machine = row.document.get("machine")
    found = machine.get("accelerators") if isinstance(machine, Mapping) else None
    if isinstance(found, list) and found:
        names = [a.get("name", "") if isinstance(a, Mapping) else str(a) for a in found]
        return ", ".join(n for n in names if n) or "-"
    return "none"


def _framework(row: RunRow) -> str:
    backend = row.document.get("backend")
    if not isinstance(backend, Mapping):
        return "-"
    name, version = backend.get("name") or "-", backend.get("version")
    return f"{name} {version}" if version else str(name)


def _accuracy(row: RunRow) -> str:
    accuracy = row.document.get("accuracy")
    if not isinstance(accuracy, Mapping):
        return ""
    return " ".join(f"{k} {v:.4g}" for k, v in accuracy.items() if _number(v) is not None)


def run_record(row: RunRow) -> dict[str, Any]:
    """One run as the table, the filters and the compare view read it."""
    doc = row.document
    latency = doc.get("latency_ns") if isinstance(doc.get("latency_ns"), Mapping) else {}
    target = doc.get("target") if isinstance(doc.get("target"), Mapping) else {}
    valid = doc.get("valid")
    return {
        "id": row.run_id,
        "page": f"runs/{page_name(row.run_id)}.html",
        "point": row.point_id,
        "sweep": row.sweep or "",
        "origin": row.origin,
        "benchmark": row.benchmark or "",
        "dataset": row.dataset or "",
        "scenario": row.scenario or "",
        "mode": row.mode or "",
        "status": row.status,
        "valid": "VALID" if valid is True else "INVALID" if valid is False else "",
        "system": row.target or "",
        "accelerator": _accelerator(row),
        "framework": _framework(row),
        "samples_per_second": _number(doc.get("samples_per_second")),
        "p50": _number(latency.get("p50")),
        "p90": _number(latency.get("p90")),
        "p99": _number(latency.get("p99")),
        "accuracy": _accuracy(row),
        "parameters": dict(row.parameters),
        "lock": row.lock or "",
        "profile": doc.get("profile") or "",
        "settings": doc.get("settings") if isinstance(doc.get("settings"), Mapping) else {},
        "facts": target.get("facts") if isinstance(target.get("facts"), Mapping) else {},
        "error": (row.error or {}).get("message") or "",
    }


def plot_groups(rows: Sequence[RunRow], objectives: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per (benchmark, scenario): every candidate's value on every axis and, for each pair of
    axes, the candidates on the front of that pair (`mlenv.resultsdb.pareto.groups`)."""
    if not objectives:
        return []
    fronts: dict[tuple[Any, Any], dict[str, list[str]]] = {}
    for kx, ky in itertools.combinations(objectives, 2):
        pair = {kx: objectives[kx], ky: objectives[ky]}
        for g in groups(rows, pair):
            fronts.setdefault((g.benchmark, g.scenario), {})[f"{kx}|{ky}"] = [
                r.run_id for r in g.front
            ]
    out = []
    for g in groups(rows, objectives):
        keys = (g.benchmark, g.scenario)
        single = {k: [r.run_id for r in _front_one(rows, g, k, objectives[k])] for k in objectives}
        out.append(
            {
                "name": f"{g.benchmark} · {g.scenario}",
                "benchmark": g.benchmark,
                "scenario": g.scenario,
                "values": {
                    r.run_id: dict(zip(g.objectives, v, strict=True))
                    for r, v in zip(g.candidates, g.values, strict=True)
                },
                "fronts": {
                    **{f"{k}|{k}": ids for k, ids in single.items()},
                    **fronts.get(keys, {}),
                },
            }
        )
    return out


def _front_one(rows: Sequence[RunRow], group: Any, key: str, direction: str) -> list[RunRow]:
    """The front of one axis alone (the plot's X and Y are the same key)."""
    mine = [r for r in rows if (r.benchmark, r.scenario) == (group.benchmark, group.scenario)]
    found = groups(mine, {key: direction})
    return found[0].front if found else []


def front_of(group: Mapping[str, Any], kx: str, ky: str) -> list[str]:
    """The ids on the front of axes (kx, ky) of one `plot_groups` entry, in either order."""
    fronts = group["fronts"]
    return list(fronts.get(f"{kx}|{ky}", fronts.get(f"{ky}|{kx}", [])))


def sweep_axes(
    rows: Iterable[RunRow], sweeps: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each sweep with the parameter keys its runs carry (the parallel coordinates' axes)."""
    keys: dict[str, list[str]] = {name: [] for name in sweeps}
    for r in rows:
        if r.sweep is not None:
            keys.setdefault(r.sweep, []).extend(r.parameters)
    return [{"name": n, "axes": list(dict.fromkeys(k))} for n, k in sorted(keys.items()) if k]
