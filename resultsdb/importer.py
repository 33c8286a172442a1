"""Reading what `mlenv results import` records: result.json files with the LoadGen files beside
them, folders of them (a `results/` tree), and the MLPerf submission checker's `summary.csv` of an
official round (kept apart as `origin: mlperf-<round>`). Reads files only; runs nothing."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ResultsDBError

MAX_LOG = 256 << 20  # a LoadGen file larger than this is left out (with a warning)
MAX_RESULT = 16 << 20
_REQUIRED = ("scenario", "mode")
_RATE_UNITS = ("Samples/s", "Queries/s", "Tokens/s")
_METRIC = re.compile(r"([A-Za-z_][\w.\-]*)\s*:\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """One result.json: its document and the files beside it (name -> bytes)."""

    path: Path
    document: dict[str, Any]
    logs: dict[str, bytes] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # files left out (too large, not plain files)


def read_result(path: Path) -> Found:
    """A result.json (CONTRACTS §8) and the LoadGen files of its folder."""
    try:
        if path.stat().st_size > MAX_RESULT:
            raise ResultsDBError(f"{path} is too large for a result.json", where=str(path))
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ResultsDBError(
            f"{path} is not a readable result.json",
            where=str(path),
            why=str(e),
            hint="pass result.json files written by `mlenv run`, or the results/ folder",
        ) from e
    if not isinstance(document, dict) or any(k not in document for k in _REQUIRED):
        raise ResultsDBError(
            f"{path} is not an mlenv result.json",
            where=str(path),
            why="a result.json is an object with at least `scenario` and `mode` (CONTRACTS §8)",
            hint="pass result.json files written by `mlenv run`, or the results/ folder",
        )
    logs, skipped = {}, []
    for other in sorted(path.parent.iterdir()):
        if other.name == path.name:
            continue
        if other.is_dir() and not other.is_symlink():
            continue  # a compliance test's own folder holds its own result.json
        if other.is_symlink() or not other.is_file() or other.stat().st_size > MAX_LOG:
            skipped.append(other.name)
            continue
        logs[other.name] = other.read_bytes()
    return Found(path=path, document=document, logs=logs, skipped=tuple(skipped))


def result_files(folder: Path) -> Iterator[Path]:
    """Every result.json below `folder`, in path order; the staging folders of runs that were
    interrupted (`.run_1.tmp-*`, hidden) are not results."""
    for path in sorted(folder.rglob("result.json")):
        relative = path.relative_to(folder).parts
        if not any(part.startswith(".") for part in relative) and not path.is_symlink():
            yield path


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficialRun:
    """One row of an official round's summary.csv, as a point and a result document."""

    point_id: str
    parameters: dict[str, Any]
    target: str
    origin: str
    document: dict[str, Any]


def read_summary_csv(path: Path) -> tuple[list[OfficialRun], int]:
    """The performance rows of an MLPerf `summary.csv` (the submission checker's columns) and
    how many other rows (power, unknown units) were left out."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            table = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ResultsDBError(
            f"{path} is not a readable CSV file", where=str(path), why=str(e)
        ) from e
    needed = ("Organization", "Model", "Scenario", "Result", "Units")
    if not table or any(c not in table[0] for c in needed):
        raise ResultsDBError(
            f"{path} is not an MLPerf summary.csv",
            where=str(path),
            why=f"a summary.csv has the columns {', '.join(needed)}, …",
            hint="pass the summary.csv the MLPerf submission checker writes for a round",
        )
    out, left_out = [], 0
    for row in table:
        run = _official(row)
        if run is None:
            left_out += 1
        else:
            out.append(run)
    return out, left_out


def _official(row: dict[str, Any]) -> OfficialRun | None:
    units = (row.get("Units") or "").strip()
    try:
        result = float(row.get("Result") or "")
    except ValueError:
        return None
    scenario = (row.get("Scenario") or "").strip()
    if units in _RATE_UNITS:
        figures: dict[str, Any] = {"samples_per_second": result, "latency_ns": {}}
    elif units == "Latency (ms)":
        percentile = "p99" if scenario == "MultiStream" else "p90"
        figures = {"samples_per_second": None, "latency_ns": {percentile: result * 1e6}}
    else:  # power rows (Watts, millijoules) and anything unknown
        return None
    round_ = (row.get("version") or "unknown").strip() or "unknown"
    system = (row.get("SystemName") or row.get("Platform") or "").strip()
    parameters = {
        "round": round_,
        "organization": row.get("Organization", ""),
        "division": row.get("Division", ""),
        "availability": row.get("Availability", ""),
        "system": system,
        "platform": row.get("Platform", ""),
        "accelerator": row.get("accelerator_model_name", ""),
        "accelerators": row.get("total_accelerators", ""),
        "framework": row.get("framework", ""),
    }
    key = json.dumps([parameters, row.get("Model")], sort_keys=True)
    accuracy = {m: float(v) for m, v in _METRIC.findall(row.get("Accuracy") or "")}
    document = {
        "version": 1,
        "benchmark": (row.get("Model") or "").strip(),
        "dataset": None,
        "scenario": scenario,
        "mode": "performance",
        "valid": True,
        **figures,
        "accuracy": accuracy or None,
        "target": {"name": system, "facts": {}},
        "backend": {"name": row.get("framework", "")},
        "mlperf": {k: v for k, v in row.items() if k is not None},
    }
    return OfficialRun(
        point_id="mlperf:" + hashlib.sha256(key.encode()).hexdigest()[:24],
        parameters=parameters,
        target=system,
        origin=f"mlperf-{round_}",
        document=document,
    )
