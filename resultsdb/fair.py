"""`mlenv results export --format fair -o DIR`: recorded runs as an RO-Crate 1.1 folder that
conforms to the Process Run Crate profile (one CreateAction per run: instrument mlenv and the lock,
object the manifest and user.conf, result the LoadGen files), plus `results.csv` (CONTRACTS §13's
columns) described by a Croissant 1.0 `croissant.json`. JSON-LD written by hand, deterministic
(sorted, no clock: dates are the runs' own). A file the database does not hold is left out, never
made up."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ResultsDBError
from .rows import COLUMNS, RunRow

CRATE = "https://w3id.org/ro/crate/1.1"
PROCESS = "https://w3id.org/ro/wfrun/process/0.5"
LICENSE = "https://spdx.org/licenses/CC-BY-4.0"
CROISSANT = "http://mlcommons.org/croissant/1.0"
_NUMBERS = {"samples_per_second": "sc:Float"}
_BOOLEANS = ("valid",)
_DATETIME = re.compile(rb'"key":\s*"test_datetime",\s*"value":\s*"([^"]{8,40})"')
_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileObject": "cr:fileObject",
    "fileProperty": "cr:fileProperty",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Crate:
    path: Path
    runs: int
    files: tuple[str, ...]  # relative paths written, sorted


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=0).isoformat()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def results_csv(rows: Sequence[RunRow]) -> str:
    """One line per run, CONTRACTS §13's columns (nested values as JSON text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        d = r.to_dict()
        writer.writerow([_cell(d[c]) for c in COLUMNS])
    return out.getvalue()


def croissant(csv_text: str, *, name: str, date: str, version: str) -> dict[str, Any]:
    """The Croissant 1.0 description of results.csv: one FileObject, one RecordSet with a Field
    per column."""
    fields = []
    for column in COLUMNS:
        kind = _NUMBERS.get(column, "sc:Boolean" if column in _BOOLEANS else "sc:Text")
        fields.append(
            {
                "@type": "cr:Field",
                "@id": f"runs/{column}",
                "name": column,
                "dataType": kind,
                "source": {"fileObject": {"@id": "results.csv"}, "extract": {"column": column}},
            }
        )
    return {
        "@context": _CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT,
        "name": name,
        "description": "MLPerf inference runs recorded by mlenv, one row per run",
        "license": LICENSE,
        "url": "https://github.com/mlcommons/inference",
        "datePublished": date,
        "version": version,
        "citeAs": f"mlenv results export, {name}",
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "results.csv",
                "name": "results.csv",
                "contentUrl": "results.csv",
                "encodingFormat": "text/csv",
                "sha256": hashlib.sha256(csv_text.encode()).hexdigest(),
            }
        ],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "runs", "name": "runs", "field": fields}],
    }


def _start_time(logs: Mapping[str, bytes]) -> str | None:
    """LoadGen's own start of the test (`test_datetime` in its detail log), when it is there."""
    found = _DATETIME.search(logs.get("mlperf_log_detail.txt", b""))
    if found is None:
        return None
    text = found.group(1).decode("ascii", "replace")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _file(ident: str, data: bytes, kind: str, about: str) -> dict[str, Any]:
    return {
        "@id": ident,
        "@type": "File",
        "name": ident.rsplit("/", 1)[-1],
        "description": about,
        "encodingFormat": kind,
        "contentSize": str(len(data)),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _kind(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".svg"):
        return "image/svg+xml"
    if name.endswith((".yaml", ".lock")):
        return "application/yaml"
    return "text/plain"


def _run_files(
    row: RunRow,
    log: Callable[[str], bytes],
    manifest: str,
    lock: bytes | None,
    write: Callable[[str, bytes], None],
) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, bytes]]:
    """The run's files in the crate (entities), by role (object / result / lock), and its logs."""
    base = f"runs/{row.run_id}/"
    entities: list[dict[str, Any]] = []
    roles: dict[str, list[str]] = {"object": [], "result": [], "lock": []}
    logs = {name: log(sha) for name, sha in sorted(row.logs.items())}
    if manifest:
        data = manifest.encode()
        write(base + "mlenv.yaml", data)
        entities.append(_file(base + "mlenv.yaml", data, "application/yaml", "the manifest"))
        roles["object"].append(base + "mlenv.yaml")
    if lock is not None:
        write(base + "mlenv.lock", lock)
        entities.append(_file(base + "mlenv.lock", lock, "application/yaml", "the lock file"))
        roles["lock"].append(base + "mlenv.lock")
    for name, data in logs.items():
        role = "object" if name == "user.conf" else "result"
        about = "LoadGen settings (user.conf)" if role == "object" else "a LoadGen output file"
        write(base + name, data)
        entities.append(_file(base + name, data, _kind(name), about))
        roles[role].append(base + name)
    return entities, roles, logs


def _action(
    row: RunRow, roles: Mapping[str, list[str]], logs: Mapping[str, bytes]
) -> dict[str, Any]:
    instrument = [{"@id": "#mlenv"}] + [{"@id": i} for i in roles["lock"]]
    if row.lock and not roles["lock"]:
        instrument.append({"@id": f"#lock-{row.lock}"})
    action: dict[str, Any] = {
        "@id": f"#run-{row.run_id}",
        "@type": "CreateAction",
        "name": f"{row.benchmark} {row.scenario} {row.mode} on {row.target}",
        "description": f"mlenv run {row.run_id} of point {row.point_id} ({row.origin})",
        "instrument": instrument,
        "object": [{"@id": i} for i in roles["object"]],
        "result": [{"@id": i} for i in roles["result"]],
        "endTime": _iso(row.recorded_at),
        "actionStatus": {
            "@id": "http://schema.org/CompletedActionStatus"
            if row.status == "ok"
            else "http://schema.org/FailedActionStatus"
        },
    }
    start = _start_time(logs)
    if start is not None:
        action["startTime"] = start
    if row.status != "ok" and row.error:
        action["error"] = str(row.error.get("message", ""))
    return action


def write_crate(
    folder: Path,
    rows: Sequence[RunRow],
    *,
    log: Callable[[str], bytes],
    manifests: Mapping[str, str],
    locks: Mapping[str, bytes],
    version: str,
    name: str = "mlenv results",
) -> Crate:
    """The crate in `folder` (created; must be empty or not exist). `manifests` maps a point id
    to its manifest text, `locks` a lock digest to the lock file that holds that section."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ResultsDBError(
            f"{folder} is not an empty folder",
            where=str(folder),
            hint="pass -o with a new folder for the FAIR export",
        )
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def write(relative: str, data: bytes) -> None:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(relative)

    date = _iso(max((r.recorded_at for r in rows), default=0.0))
    entities: list[dict[str, Any]] = []
    actions = []
    for row in rows:
        lock = locks.get(row.lock or "")
        files, roles, logs = _run_files(row, log, manifests.get(row.point_id, ""), lock, write)
        entities += files
        actions.append(_action(row, roles, logs))
        if row.lock and not roles["lock"]:
            entities.append(
                {
                    "@id": f"#lock-{row.lock}",
                    "@type": "CreativeWork",
                    "name": "mlenv.lock section",
                    "identifier": row.lock,
                    "description": "the lock section's digest; the lock file is not stored",
                }
            )
    text = results_csv(rows)
    write("results.csv", text.encode())
    meta = croissant(text, name=name, date=date, version=version)
    write("croissant.json", (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
    entities.append(_file("results.csv", text.encode(), "text/csv", "one row per run (§13)"))
    croissant_bytes = (folder / "croissant.json").read_bytes()
    entities.append(
        _file("croissant.json", croissant_bytes, "application/ld+json", "Croissant of results.csv")
    )
    graph = _graph(entities, actions, name=name, date=date, version=version)
    body = {"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph}
    write("ro-crate-metadata.json", (json.dumps(body, indent=1, sort_keys=True) + "\n").encode())
    return Crate(path=folder, runs=len(rows), files=tuple(sorted(written)))


def _graph(
    entities: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    *,
    name: str,
    date: str,
    version: str,
) -> list[dict[str, Any]]:
    unique = {e["@id"]: e for e in entities}
    parts = sorted(i for i, e in unique.items() if e["@type"] == "File")
    root: dict[str, Any] = {
        "@id": "./",
        "@type": "Dataset",
        "name": name,
        "description": "MLPerf inference runs measured or imported by mlenv, with their "
        "LoadGen files, manifests and settings",
        "datePublished": date,
        "license": {"@id": LICENSE},
        "conformsTo": [{"@id": PROCESS}],
        "hasPart": [{"@id": p} for p in parts],
        "mentions": [{"@id": a["@id"]} for a in actions],
    }
    fixed: list[dict[str, Any]] = [
        {
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "conformsTo": [{"@id": CRATE}, {"@id": PROCESS}],
        },
        root,
        {"@id": PROCESS, "@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"},
        {"@id": LICENSE, "@type": "CreativeWork", "name": "CC BY 4.0"},
        {
            "@id": "#mlenv",
            "@type": "SoftwareApplication",
            "name": "mlenv",
            "version": version,
            "description": "environment resolver and LoadGen harness for MLPerf benchmarks",
        },
    ]
    return fixed + sorted(actions, key=lambda a: a["@id"]) + [unique[i] for i in sorted(unique)]
