"""Read the run config file (the only I/O of the config package)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import HarnessError
from .model import RunConfig


def load_config(path: Path) -> RunConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"cannot read the run config {path}: {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise HarnessError(
            f"run config {path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}"
        ) from e
    return RunConfig.from_dict(data, source=f"run config {path}")
