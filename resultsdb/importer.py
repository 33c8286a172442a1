"""Reading what `mlenv results import` records: result.json files with the LoadGen files beside
them, folders of them (a `results/` tree); official MLPerf tables are `summary.py`'s. Reads files
only; runs nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ResultsDBError
from .summary import OfficialRun, read_table

__all__ = ["Found", "OfficialRun", "read_result", "read_summary_csv", "result_files"]

MAX_LOG = 256 << 20  # a LoadGen file larger than this is left out (with a warning)
MAX_RESULT = 16 << 20
_REQUIRED = ("scenario", "mode")


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


def read_summary_csv(path: Path, *, round_: str | None = None) -> tuple[list[OfficialRun], int]:
    """The performance rows of an official MLPerf table (`summary.py`) and how many other rows
    (power, unknown units) were left out."""
    table = read_table(path, round_=round_)
    return list(table.runs), table.left_out
