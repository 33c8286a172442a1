"""The accuracy folder's two computed files: the truncated accuracy log (the first and last
4 KiB, as MLCommons' `truncate_accuracy_log.py` leaves it, so at most 10 KiB) and `accuracy.txt`
(the metric in the line format the checker reads for it, then `hash=` the sha256 of the whole,
untruncated log)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .rules import VIEWABLE


def truncate(log: bytes) -> bytes:
    """The log as a submission carries it: whole when short, else its head and tail."""
    if len(log) < VIEWABLE:
        return log
    return log[:VIEWABLE] + b"\n\n...\n\n" + log[-VIEWABLE:]


def metric_lines(accuracy: Mapping[str, Any], samples: int | None) -> list[str]:
    """One line per recorded metric, as the checker's patterns expect it (percentages)."""
    lines = []
    top1, mean_ap = _number(accuracy.get("top1")), _number(accuracy.get("map"))
    f1, em = _number(accuracy.get("f1")), _number(accuracy.get("exact_match"))
    if top1 is not None:
        line = f"accuracy={100 * top1:.3f}%"
        if isinstance(samples, int) and samples > 0:
            line += f", good={round(top1 * samples)}, total={samples}"
        lines.append(line)
    if mean_ap is not None:
        lines.append(f"mAP={100 * mean_ap:.3f}%")
    if f1 is not None:
        doc = {"exact_match": round(100 * em, 3) if em is not None else 0.0}
        doc["f1"] = round(100 * f1, 3)
        lines.append(json.dumps(doc))
    known = {"top1", "map", "f1", "exact_match"}
    lines.extend(f"{k}={v}" for k, v in sorted(accuracy.items()) if k not in known)
    return lines


def accuracy_text(accuracy: Mapping[str, Any], samples: int | None, log: bytes) -> str:
    lines = metric_lines(accuracy, samples)
    lines.append(f"hash={hashlib.sha256(log).hexdigest()}")
    return "\n".join(lines) + "\n"


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None
