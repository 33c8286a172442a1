"""Official MLPerf inference results tables: the submission checker's `summary.csv` (its columns
from v4.0 to v6.x) and the JSON tables of the same results (a list of row objects, either with
the checker's column names or with those of MLCommons' results site: Submitter, System,
Performance_Result, Performance_Units, Accelerator, a#, …). Each performance row becomes one
run, kept apart by `origin: mlperf-<round>`. Reads bounded files only; runs nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ResultsDBError

MAX_TABLE = 64 << 20  # bytes: the largest official table read
MAX_ROWS = 200_000
MAX_CELL = 1 << 16  # characters in one cell
_ROUND = re.compile(r"v?(\d+)\.(\d+)")
_ROUND_IN_PATH = re.compile(r"(?:^|[_\-/ ])v(\d+)\.(\d+)(?=$|[_\-/ .])")
_METRIC = re.compile(r"([A-Za-z_][\w.\-]*)\s*[:=]\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")

# each field a run needs, and the column names the two vocabularies give it (first found wins)
ALIASES: dict[str, tuple[str, ...]] = {
    "organization": ("Organization", "Submitter"),
    "availability": ("Availability",),
    "division": ("Division", "Category"),
    "system_type": ("SystemType", "Suite"),
    "system": ("SystemName", "System"),
    "platform": ("Platform",),
    "model": ("Model",),
    "mlperf_model": ("MlperfModel", "UsedModel"),
    "scenario": ("Scenario",),
    "result": ("Result", "Performance_Result"),
    "units": ("Units", "Performance_Units"),
    "accuracy": ("Accuracy",),
    "nodes": ("number_of_nodes", "Nodes"),
    "processor": ("host_processor_model_name", "Processor"),
    "processors_per_node": ("host_processors_per_node",),
    "processor_cores": ("host_processor_core_count",),
    "accelerator": ("accelerator_model_name", "Accelerator"),
    "accelerators_per_node": ("accelerators_per_node", "a#"),
    "accelerators": ("total_accelerators", "Total Accelerators"),
    "framework": ("framework", "Software"),
    "operating_system": ("operating_system",),
    "notes": ("notes", "Notes"),
    "location": ("Location", "Details"),
    "round": ("version",),
    "weight_data_types": ("weight_data_types",),
    "power": ("Power_Result",),
    "power_units": ("Power_Units",),
    "id": ("ID", "PrivateID"),
}
REQUIRED = ("organization", "model", "scenario", "result", "units")
_RATES = {"samples/s": "samples", "queries/s": "queries", "tokens/s": "tokens"}
_LATENCY = {"ms": 1e6, "us": 1e3, "µs": 1e3, "ns": 1.0}
_POWER = ("watts", "millijoules", "joules", "w", "mj", "j")


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficialRun:
    """One performance row of an official table, as a point and a result document."""

    point_id: str
    parameters: dict[str, Any]
    target: str
    origin: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """An official table read: its runs and the rows left out (power, unknown units, no result)."""

    path: Path
    runs: tuple[OfficialRun, ...]
    left_out: int
    power: int  # of the left-out rows, how many were power rows


def is_summary(path: Path) -> bool:
    """Whether `path` looks like an official table (rather than a result.json)."""
    if path.suffix.lower() == ".csv":
        return True
    return path.suffix.lower() == ".json" and path.name != "result.json"


def read_table(path: Path, *, round_: str | None = None) -> Table:
    """An official summary table (`.csv` or `.json`) as runs. The round is the row's `version`
    column, else `round_` (`--round`), else a `vX.Y` in the file's path."""
    rows = _rows(path)
    columns = sorted({k for row in rows for k in row})
    fields = {
        name: next((c for c in names if c in columns), None) for name, names in ALIASES.items()
    }
    missing = [name for name in REQUIRED if fields[name] is None]
    if missing:
        wanted = ", ".join(" or ".join(ALIASES[name]) for name in missing)
        raise ResultsDBError(
            f"{path} is not an MLPerf results table: it has no {wanted} column",
            where=str(path),
            why=f"found the columns {', '.join(columns[:40]) or '(none)'}",
            hint="pass the summary.csv the MLPerf submission checker writes for a round, or "
            "the summary JSON of a results repository",
        )
    fallback = _round_of(round_, "--round") if round_ else _round_in_path(path)
    out: list[OfficialRun] = []
    left_out = power = 0
    for number, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 0):
        found = {name: _text(row.get(col)) for name, col in fields.items() if col is not None}
        run = _official(found, row, fallback, path, number)
        if isinstance(run, OfficialRun):
            out.append(run)
        else:
            left_out += 1
            power += run == "power"
    return Table(path=path, runs=tuple(out), left_out=left_out, power=power)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_TABLE:
            raise ResultsDBError(
                f"{path} is too large for an MLPerf results table ({size} bytes)",
                where=str(path),
                why=f"tables larger than {MAX_TABLE >> 20} MiB are refused",
                hint="split the table, or import the rounds one by one",
            )
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsDBError(
            f"{path} is not a readable text file", where=str(path), why=str(e)
        ) from e


def _rows(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _json_rows(path, text)
    if not rows:
        raise ResultsDBError(
            f"{path} holds no rows",
            where=str(path),
            hint="pass a summary table with a header and at least one result row",
        )
    if len(rows) > MAX_ROWS:
        raise ResultsDBError(
            f"{path} has more than {MAX_ROWS} rows", where=str(path), hint="split the table"
        )
    return rows


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    old = csv.field_size_limit()
    try:
        csv.field_size_limit(MAX_CELL)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = []
        for row in reader:
            rows.append({k.strip(): v for k, v in row.items() if isinstance(k, str)})
            if len(rows) > MAX_ROWS:
                break
        return rows
    except csv.Error as e:
        raise ResultsDBError(
            f"{path} is not a readable CSV file", where=str(path), why=str(e)
        ) from e
    finally:
        csv.field_size_limit(old)


def _json_rows(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ResultsDBError(f"{path} is not valid JSON", where=str(path), why=str(e)) from e
    rows = row_list(data)
    if rows is None:
        raise ResultsDBError(
            f"{path} is not an MLPerf results table",
            where=str(path),
            why="a summary JSON is a list of row objects (or an object holding one, such as "
            '{"results": […]}, or an object of row objects by id)',
            hint="pass the summary JSON of a results repository, or its summary.csv",
        )
    return rows


def row_list(data: Any) -> list[dict[str, Any]] | None:
    if isinstance(data, list):
        return data if data and all(isinstance(r, dict) for r in data) else None
    if not isinstance(data, dict):
        return None
    for key in ("results", "rows", "data", "summary"):
        if isinstance(data.get(key), list):
            return row_list(data[key])
    values = list(data.values())
    if values and all(isinstance(v, dict) for v in values):
        return [{"ID": k, **v} if "ID" not in v else v for k, v in data.items()]
    return None


def _text(value: Any) -> str:
    """A cell as Python (and so the checker's CSV) spells it: JSON numbers, booleans alike."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.strip()[:MAX_CELL]


def _round_of(text: str, where: str) -> str:
    m = _ROUND.fullmatch(text.strip())
    if m is None:
        raise ResultsDBError(
            f"{text!r} is not an MLPerf round",
            where=where,
            hint="a round is written vMAJOR.MINOR, e.g. --round v5.1",
        )
    return f"v{int(m.group(1))}.{int(m.group(2))}"


def _round_in_path(path: Path) -> str | None:
    found = _ROUND_IN_PATH.findall(path.absolute().as_posix())
    return f"v{int(found[-1][0])}.{int(found[-1][1])}" if found else None


def parse_accuracy(text: str) -> dict[str, float]:
    """`acc: 76.078, mAP: 37.5` or `ROUGE1: 44.4  ROUGE2: 22.0` as {metric: value}; a bare
    number (the checker's summary.csv of v4.x writes `76.078`) as {"accuracy": value}."""
    found = {m: float(v) for m, v in _METRIC.findall(text or "")}
    bare = _number((text or "").strip())
    return {"accuracy": bare} if not found and bare is not None else found


def _figures(units: str, result: float, scenario: str) -> dict[str, Any] | str:
    unit = units.strip().lower()
    if unit in _RATES:
        return {"samples_per_second": result, "latency_ns": {}}
    m = re.fullmatch(r"(latency)?\s*\(?\s*(ms|us|µs|ns)?\s*\)?", unit)
    if m is not None and (m.group(1) or m.group(2)):
        scale = _LATENCY[m.group(2) or "ms"]
        percentile = "p99" if scenario == "MultiStream" else "p90"
        return {"samples_per_second": None, "latency_ns": {percentile: result * scale}}
    return "power" if unit in _POWER else "unknown"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _integer(text: str) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value.is_integer() else None


def _official(
    found: Mapping[str, str], row: Mapping[str, Any], fallback: str | None, path: Path, line: int
) -> OfficialRun | str:
    result = _number(found["result"])
    if result is None:
        return "no result"
    scenario = found["scenario"]
    figures = _figures(found["units"], result, scenario)
    if isinstance(figures, str):
        return figures
    round_ = (
        _round_of(found["round"], f"{path}:{line}: version") if found.get("round") else fallback
    )
    if round_ is None:
        raise ResultsDBError(
            f"{path}: the MLPerf round of these results is not known",
            where=str(path),
            why="the table has no `version` column and its path names no round (vX.Y)",
            hint=f"pass it: mlenv results import {path.name} --round v5.1",
        )
    return _run(found, row, round_, figures)


def _target_facts(found: Mapping[str, str]) -> dict[str, Any]:
    per_node = _integer(found.get("accelerators_per_node", ""))
    nodes = _integer(found.get("nodes", "")) or 1
    total = _integer(found.get("accelerators", ""))
    if total is None and per_node is not None:
        total = per_node * nodes
    facts: dict[str, Any] = {
        "accelerator": found.get("accelerator") or None,
        "accelerators": total,
        "accelerators_per_node": per_node,
        "nodes": nodes,
        "processor": found.get("processor") or None,
        "processor_cores": _integer(found.get("processor_cores", "")),
        "system_type": found.get("system_type") or None,
        "os": found.get("operating_system") or None,
        "platform": found.get("platform") or None,
    }
    return {k: v for k, v in facts.items() if v is not None}


def _run(
    found: Mapping[str, str], row: Mapping[str, Any], round_: str, figures: Mapping[str, Any]
) -> OfficialRun:
    system = found.get("system") or found.get("platform") or ""
    parameters = {
        "round": round_,
        "organization": found["organization"],
        "division": found.get("division", ""),
        "availability": found.get("availability", ""),
        "system": system,
        "platform": found.get("platform", ""),
        "accelerator": found.get("accelerator", ""),
        "accelerators": found.get("accelerators") or found.get("accelerators_per_node", ""),
        "framework": found.get("framework", ""),
    }
    # the point: one system of one organization in one round and division, for one model
    key = json.dumps([parameters, found["model"]], sort_keys=True)
    power = _number(found.get("power", ""))
    document: dict[str, Any] = {
        "version": 1,
        "benchmark": found["model"],
        "dataset": None,
        "scenario": found["scenario"],
        "mode": "performance",
        "valid": True,
        **figures,
        "accuracy": parse_accuracy(found.get("accuracy", "")) or None,
        "target": {"name": system, "facts": _target_facts(found)},
        "backend": {"name": found.get("framework", "")},
        "mlperf": {
            "round": round_,
            "model": found["model"],
            "mlperf_model": found.get("mlperf_model") or found["model"],
            "result": _number(found["result"]),
            "units": found["units"],
            "accuracy": found.get("accuracy", ""),
            "organization": found["organization"],
            "division": found.get("division", ""),
            "availability": found.get("availability", ""),
            "location": found.get("location", ""),
            "notes": found.get("notes", ""),
            "power": None if power is None else {"value": power, "units": found.get("power_units")},
            "row": {str(k): _text(v) for k, v in sorted(row.items())},
        },
    }
    return OfficialRun(
        point_id="mlperf:" + hashlib.sha256(key.encode()).hexdigest()[:24],
        parameters=parameters,
        target=system,
        origin=f"mlperf-{round_}",
        document=document,
    )


def describe(tables: Sequence[Table]) -> list[str]:
    """The left-out lines `mlenv results import` reports."""
    out = []
    for t in tables:
        if t.left_out:
            out.append(
                f"{t.path}: {t.left_out} row(s) that are not performance results "
                f"({t.power} power, {t.left_out - t.power} without a result or with other units)"
            )
    return out
