"""LoadGen's own logs: the detail log's ``:::MLLOG`` records, the summary, the accuracy log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
ACCURACY = "mlperf_log_accuracy.json"
TRACE = "mlperf_log_trace.json"
_PREFIX = ":::MLLOG "


@dataclass(frozen=True, kw_only=True)
class DetailLog:
    values: Mapping[str, object]  # the last value logged under each key
    errors: tuple[str, ...]  # "key: value" of every record LoadGen flagged as an error
    warnings: tuple[str, ...]


def read_detail_log(output_dir: Path) -> DetailLog:
    path = output_dir / DETAIL
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise HarnessError(f"LoadGen wrote no detail log: cannot read {path}: {e.strerror}") from e
    values: dict[str, object] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for line in lines:
        if not line.startswith(_PREFIX):
            continue
        try:
            record = json.loads(line[len(_PREFIX) :])
            key = str(record["key"])
        except (ValueError, KeyError, TypeError):
            continue
        value = record.get("value")
        values[key] = value
        metadata = record.get("metadata") or {}
        if metadata.get("is_error"):
            errors.append(f"{key}: {value}")
        elif metadata.get("is_warning"):
            warnings.append(f"{key}: {value}")
    return DetailLog(values=values, errors=tuple(errors), warnings=tuple(warnings))


def summary_validity(output_dir: Path) -> bool | None:
    """``Result is : VALID`` / ``INVALID`` from the summary; None when it has no such line."""
    try:
        text = (output_dir / SUMMARY).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Result is"):
            return line.split(":", 1)[-1].strip() == "VALID"
    return None


def read_accuracy_entries(output_dir: Path) -> list[tuple[int, bytes]]:
    """Every response LoadGen logged, in log order: (sample index, bytes)."""
    path = output_dir / ACCURACY
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return [(int(e["qsl_idx"]), bytes.fromhex(e["data"])) for e in entries]
    except OSError as e:
        raise HarnessError(
            f"LoadGen wrote no accuracy log: cannot read {path}: {e.strerror}"
        ) from e
    except (ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"{path}: not a LoadGen accuracy log: {e}") from e


def read_accuracy_log(output_dir: Path) -> dict[int, bytes]:
    """The response bytes LoadGen logged, keeping the first for each sample index."""
    responses: dict[int, bytes] = {}
    for index, data in read_accuracy_entries(output_dir):
        responses.setdefault(index, data)
    return responses
