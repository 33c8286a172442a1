"""Recorded runs as files: `csv` (one row per run, nested fields flattened to dotted columns),
`json` (the §13 rows with their result documents), and `summary-csv` (the columns of the MLPerf
inference submission checker's `summary.csv`, one row per performance run)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .rows import COLUMNS, RunRow

FORMATS = ("csv", "json", "summary-csv")

# the submission checker's summary.csv header (mlcommons/inference tools/submission), in order
SUMMARY_COLUMNS = (
    "Organization",
    "Availability",
    "Division",
    "SystemType",
    "SystemName",
    "Platform",
    "Model",
    "MlperfModel",
    "Scenario",
    "Result",
    "Accuracy",
    "number_of_nodes",
    "host_processor_model_name",
    "host_processors_per_node",
    "host_processor_core_count",
    "accelerator_model_name",
    "accelerators_per_node",
    "total_accelerators",
    "Location",
    "framework",
    "operating_system",
    "notes",
    "compliance",
    "errors",
    "version",
    "inferred",
    "has_power",
    "Units",
    "weight_data_types",
    "PrivateID",
)
UNITS = {
    "SingleStream": "Latency (ms)",
    "MultiStream": "Latency (ms)",
    "Offline": "Samples/s",
    "Server": "Queries/s",
}
# mlenv's model names -> the MLPerf benchmark they stand for (the checker's model mapping)
MLPERF_MODELS = {
    "resnet50": "resnet",
    "resnet50-pytorch": "resnet",
    "retinanet": "retinanet",
    "bert-large": "bert-99",
    "3d-unet": "3d-unet-99",
    "gpt-j": "gptj-99",
    "llama2-70b": "llama2-70b-99",
    "dlrm-v2": "dlrm-v2-99",
}
ROUND = "v6.1"
_FLAT = ("latency_ns", "accuracy", "energy", "backend", "parameters")


def export(rows: Sequence[RunRow], fmt: str) -> str:
    if fmt == "json":
        return to_json(rows)
    if fmt == "summary-csv":
        return to_summary_csv(rows)
    return to_csv(rows)


def to_json(rows: Sequence[RunRow]) -> str:
    runs = [{**r.to_dict(), "result": dict(r.document), "logs": dict(r.logs)} for r in rows]
    return json.dumps({"version": 1, "runs": runs}, indent=1, sort_keys=True) + "\n"


def _flat(row: RunRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.to_dict().items():
        if key in _FLAT:
            for sub, inner in (value or {}).items() if isinstance(value, Mapping) else ():
                out[f"{key}.{sub}"] = _cell(inner)
        elif key == "error":
            out[key] = (value or {}).get("message") if isinstance(value, Mapping) else value
        else:
            out[key] = _cell(value)
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def to_csv(rows: Sequence[RunRow]) -> str:
    flat = [_flat(r) for r in rows]
    seen = {k for f in flat for k in f}
    header: list[str] = []
    for column in COLUMNS:
        if column in _FLAT:
            header += sorted(k for k in seen if k.startswith(f"{column}."))
        else:
            header.append(column)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


def result_of(row: RunRow) -> float | None:
    """The figure MLPerf reports: samples/s (Offline), queries/s (Server), the p90 latency in ms
    (SingleStream), the p99 latency in ms (MultiStream)."""
    latency = row.document.get("latency_ns") or {}
    percentile = {"SingleStream": "p90", "MultiStream": "p99"}.get(str(row.scenario))
    if percentile is not None:
        ns = latency.get(percentile) if isinstance(latency, Mapping) else None
        return ns / 1e6 if isinstance(ns, int | float) else None
    sps = row.document.get("samples_per_second")
    return float(sps) if isinstance(sps, int | float) else None


def _accuracy_text(accuracy: Any) -> str:
    """As the checker writes it: `top1: 0.995` (several metrics separated by spaces)."""
    if not isinstance(accuracy, Mapping):
        return ""
    return "  ".join(f"{k}: {v}" for k, v in accuracy.items())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _summary_row(row: RunRow, accuracy: Any) -> dict[str, Any]:
    doc = row.document
    machine = _mapping(doc.get("machine"))
    accelerators = machine.get("accelerators") or []
    backend = _mapping(doc.get("backend"))
    facts = _mapping(_mapping(doc.get("target")).get("facts"))
    model = str(row.benchmark or "")
    result = result_of(row)
    first = accelerators[0] if accelerators else {}
    names = first.get("name", first) if isinstance(first, Mapping) else first
    return {
        "Organization": "",
        "Availability": "",
        "Division": "open",
        "SystemType": "",
        "SystemName": row.target or "",
        "Platform": row.target or "",
        "Model": model,
        "MlperfModel": MLPERF_MODELS.get(model, model),
        "Scenario": row.scenario or "",
        "Result": "" if result is None else f"{result:.6g}",
        "Accuracy": _accuracy_text(accuracy),
        "number_of_nodes": 1,
        "host_processor_model_name": machine.get("cpu", ""),
        "host_processors_per_node": 1,
        "host_processor_core_count": machine.get("cores", ""),
        "accelerator_model_name": names if accelerators else "N/A",
        "accelerators_per_node": len(accelerators),
        "total_accelerators": len(accelerators),
        "Location": f"results/{row.target}/{model}/{row.scenario}/performance",
        "framework": " ".join(str(backend.get(k, "")) for k in ("name", "version")).strip(),
        "operating_system": facts.get("os", ""),
        "notes": f"mlenv run {row.run_id}, lock {row.lock}",
        "compliance": "",
        "errors": 0 if doc.get("valid") is True else 1,
        "version": ROUND,
        "inferred": 0,
        "has_power": False,
        "Units": UNITS.get(str(row.scenario), ""),
        "weight_data_types": "",
        "PrivateID": row.run_id,
    }


def to_summary_csv(rows: Sequence[RunRow]) -> str:
    """One row per performance run, its accuracy from the same point's accuracy run; quoted as
    the checker quotes its rows."""
    accuracy: dict[tuple[str, Any], Any] = {}
    for r in rows:
        if r.status == "ok" and r.mode == "accuracy" and r.document.get("accuracy"):
            accuracy[(r.point_id, r.scenario)] = r.document.get("accuracy")
    out = io.StringIO()
    out.write(",".join(SUMMARY_COLUMNS) + "\n")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for r in rows:
        if r.status != "ok" or r.mode != "performance" or r.document.get("compliance"):
            continue
        found = r.document.get("accuracy") or accuracy.get((r.point_id, r.scenario))
        row = _summary_row(r, found)
        writer.writerow([row[c] for c in SUMMARY_COLUMNS])
    return out.getvalue()
