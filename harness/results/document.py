"""The result files beside LoadGen's logs: result.json (CONTRACTS §8) and accuracy.txt."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..config import RunConfig
from .performance import PERCENTILES, Performance

RESULT = "result.json"
ACCURACY_TEXT = "accuracy.txt"
VERIFY_FILES = ("verify_accuracy.txt", "verify_performance.txt")  # compliance verdicts
RESULT_VERSION = 1


def result_document(
    config: RunConfig,
    *,
    valid: bool,
    performance: Performance | None,
    accuracy: Mapping[str, float] | None,
    backend_version: str,
    settings: Mapping[str, object],
    backend_provider: str | None = None,
    compliance: Mapping[str, object] | None = None,
    window_ns: Mapping[str, int] | None = None,
    benchmark_config: Mapping[str, object] | None = None,
    model: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """CONTRACTS §8's document, plus (§11) ``samples`` (the count used), ``benchmark_config``
    and ``model`` when given, and ``window_ns``."""
    doc: dict[str, object] = {
        "version": RESULT_VERSION,
        "benchmark": config.benchmark,
        "dataset": config.dataset,
        "scenario": config.scenario,
        "mode": config.mode,
        "valid": valid,
        "samples_per_second": performance.samples_per_second if performance else None,
        "latency_ns": performance.latency_ns if performance else dict.fromkeys(PERCENTILES),
    }
    if accuracy is not None:
        doc["accuracy"] = dict(accuracy)
    if compliance is not None:
        doc["compliance"] = dict(compliance)
    backend: dict[str, object] = {"name": config.backend.name, "version": backend_version}
    if backend_provider:
        backend["provider"] = backend_provider
    doc.update(
        {
            "lock": config.lock,
            "target": {"name": config.target_name, "facts": dict(config.target_facts)},
            "backend": backend,
            "settings": dict(settings),
            "samples": config.data.samples,
        }
    )
    if benchmark_config is not None:
        doc["benchmark_config"] = dict(benchmark_config)
    if model is not None:
        doc["model"] = dict(model)
    if window_ns is not None:  # the LoadGen call's span, for the energy read around it
        doc["window_ns"] = dict(window_ns)
    return doc


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def result_text(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, indent=2) + "\n"
