"""mlenv's own checks of a submission tree (`mlenv submit check DIR`): the v6.1 layout, the
required files (present and non-empty), the systems and measurements JSON fields, the size of
the truncated accuracy logs, the `hash=` and metric lines of accuracy.txt, LoadGen's verdict,
the open division's model mapping, and the closed division's TEST01/TEST04 folders (present,
saying TEST PASS). Each problem names its path relative to DIR. These are
not the official checker's checks (which also judge durations, seeds and sample counts)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlenv.errors import Problem

from .compliance import passes
from .rules import (
    ACCURACY_FILES,
    CLOSED_MODELS,
    HASH_LINE,
    MAX_ACCURACY_LOG,
    MEASUREMENT_FIELDS,
    METRIC_LINES,
    PERFORMANCE_FILES,
    SCENARIO_FILES,
    TEST01_ACCURACY_FILES,
    VERIFY_ACCURACY,
    VERIFY_PERFORMANCE,
    compliance_tests,
)
from .systems import field_problems

DIVISION_NAMES = ("closed", "open", "network")


class _Found:
    def __init__(self, top: Path) -> None:
        self.top = top
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(where=str(path.relative_to(self.top)), message=message))

    def json(self, path: Path) -> Any:
        if not path.is_file():
            self.add(path, "is missing")
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            self.add(path, f"is not JSON: {e}")
            return None

    def nonempty(self, path: Path) -> bool:
        if not path.is_file():
            self.add(path, "is missing")
            return False
        if path.stat().st_size == 0:
            self.add(path, "is empty")
            return False
        return True


def check_tree(top: Path) -> list[Problem]:
    """Every problem of the tree under `top` (empty: none found)."""
    found = _Found(top)
    divisions = [d for d in sorted(top.iterdir()) if d.is_dir() and d.name in DIVISION_NAMES]
    if not divisions:
        found.problems.append(
            Problem(where=str(top), message="holds no open/ or closed/ division folder")
        )
    for division in divisions:
        for submitter in sorted(p for p in division.iterdir() if p.is_dir()):
            _submitter(found, division.name, submitter)
    return found.problems


def _submitter(found: _Found, division: str, root: Path) -> None:
    if not (root / "src").is_dir():
        found.add(root / "src", "is missing (the code and configuration that produced the runs)")
    results = root / "results"
    if not results.is_dir():
        found.add(results, "is missing")
        return
    mapping = (
        found.json(root / "model_mapping.json") if (root / "model_mapping.json").exists() else {}
    )
    for system in sorted(p for p in results.iterdir() if p.is_dir()):
        _system(found, division, root, system.name)
        for benchmark in sorted(p for p in system.iterdir() if p.is_dir()):
            _benchmark(found, division, root, benchmark, mapping or {})
            for scenario in sorted(p for p in benchmark.iterdir() if p.is_dir()):
                _scenario(found, scenario)
                if division == "closed" and benchmark.name in CLOSED_MODELS:
                    _compliance(found, scenario, compliance_tests(benchmark.name))


def _system(found: _Found, division: str, root: Path, name: str) -> None:
    path = root / "systems" / f"{name}.json"
    fields = found.json(path)
    if not isinstance(fields, dict):
        if fields is not None:
            found.add(path, "is not a JSON object")
        return
    for key, problem in field_problems(fields):
        found.add(path, f"{key} {problem}")
    if fields.get("division") not in (None, division):
        found.add(path, f"division is {fields.get('division')!r}, but the tree says {division}")
    if fields.get("submitter") not in (None, root.name):
        found.add(path, f"submitter is {fields.get('submitter')!r}, but the folder is {root.name}")


def _benchmark(found: _Found, division: str, root: Path, folder: Path, mapping: Any) -> None:
    name = folder.name
    if name in CLOSED_MODELS:
        return
    if division == "closed":
        found.add(folder, f"{name} is not a model of the closed division")
    elif not isinstance(mapping, dict) or mapping.get(name) not in CLOSED_MODELS:
        found.add(root / "model_mapping.json", f"does not map {name} to a closed-division model")


def _scenario(found: _Found, folder: Path) -> None:
    for name in PERFORMANCE_FILES:
        found.nonempty(folder / "performance" / "run_1" / name)
    _verdict(found, folder / "performance" / "run_1" / "mlperf_log_summary.txt")
    accuracy = folder / "accuracy"
    for name in ACCURACY_FILES:
        found.nonempty(accuracy / name)
    log = accuracy / "mlperf_log_accuracy.json"
    if log.is_file() and log.stat().st_size > MAX_ACCURACY_LOG:
        found.add(log, f"is {log.stat().st_size} bytes: truncate it to at most {MAX_ACCURACY_LOG}")
    _accuracy_text(found, accuracy / "accuracy.txt")
    for name in SCENARIO_FILES:
        found.nonempty(folder / name)
    fields = (
        found.json(folder / "measurements.json")
        if (folder / "measurements.json").is_file()
        else None
    )
    if isinstance(fields, dict):
        for key in MEASUREMENT_FIELDS:
            if str(fields.get(key) or "").strip() == "":
                found.add(folder / "measurements.json", f"{key} is missing or empty")


def _compliance(found: _Found, scenario: Path, tests: tuple[str, ...]) -> None:
    """The closed division's audit folders: present, their verify files saying TEST PASS, the
    audit run's LoadGen logs, and TEST01's accuracy/ folder complete when there is one."""
    for test in tests:
        folder = scenario / test
        if not folder.is_dir():
            found.add(folder, f"is missing (run `mlenv run --compliance {test}`)")
            continue
        verify = [VERIFY_PERFORMANCE] + ([VERIFY_ACCURACY] if test == "TEST01" else [])
        for name in verify:
            if found.nonempty(folder / name) and not passes(folder / name):
                found.add(folder / name, f"does not say TEST PASS: {test} failed")
        for name in PERFORMANCE_FILES:
            found.nonempty(folder / "performance" / "run_1" / name)
        accuracy = folder / "accuracy"
        if test == "TEST01" and accuracy.is_dir():
            for name in TEST01_ACCURACY_FILES:
                found.nonempty(accuracy / name)


def _verdict(found: _Found, summary: Path) -> None:
    if not summary.is_file():
        return
    text = summary.read_text(encoding="utf-8", errors="replace")
    if "Result is : INVALID" in text:
        found.add(summary, "LoadGen marked this performance run INVALID")


def _accuracy_text(found: _Found, path: Path) -> None:
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not any(re.match(HASH_LINE, line) for line in lines):
        found.add(path, "has no hash= line (the sha256 of the untruncated accuracy log)")
    if not any(re.match(p, line) for p in METRIC_LINES.values() for line in lines):
        found.add(path, "has no metric line the checker reads (accuracy=…%, mAP=…, or the F1 JSON)")
