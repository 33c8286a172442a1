"""The closed division's compliance folders, `<benchmark>/<scenario>/TEST01/` and `TEST04/`, from
the audit runs `mlenv run --compliance T` recorded: `verify_performance.txt` (and, for TEST01,
`verify_accuracy.txt`), the audit run's LoadGen logs in `performance/run_1/`, and for TEST01 an
`accuracy/` folder when its sampled responses differed from the accuracy run and mlenv judged
them by the metric instead (`baseline_accuracy.txt`: the metric of the accuracy run's responses
to those samples, `compliance_accuracy.txt`: of TEST01's).

The verdicts are the ones mlenv's harness reached (its own rules, README "Scenarios, backends,
compliance"); the verify files are the ones it wrote beside the audit run, or, for a run
recorded without them, written again from the checks in its result.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlenv.resultsdb import RunRow

from . import accuracy as A
from .errors import SubmissionError
from .rules import PASS_LINE, PERFORMANCE_FILES, VERIFY_ACCURACY, VERIFY_PERFORMANCE

Log = Callable[[str], bytes]
CHECK_FILES = {"accuracy": VERIFY_ACCURACY, "performance": VERIFY_PERFORMANCE}


def verify_text(test: str, check: str, found: Mapping[str, Any]) -> str:
    """A verify file from one check of a result.json's `compliance.checks`: the figures, then
    TEST PASS or TEST FAIL on a line of its own."""
    lines = [f"{test} {check} check"]
    lines += [f"{key} = {value}" for key, value in found.items() if key != "pass"]
    lines.append(PASS_LINE if found.get("pass") is True else "TEST FAIL")
    return "\n".join(lines) + "\n"


def write_test(folder: Path, test: str, run: RunRow, log: Log) -> None:
    """`folder` (…/<scenario>/<test>/) from the audit run `run`."""
    audit = run.document.get("compliance")
    checks = audit.get("checks") if isinstance(audit, Mapping) else None
    if not isinstance(checks, Mapping):
        raise SubmissionError(
            f"run {run.run_id} records no {test} verdict",
            where=f"run {run.run_id}",
            why="its result.json has no `compliance.checks`",
            hint=f"run the test again with `mlenv run --compliance {test}`",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for check, name in CHECK_FILES.items():
        found = checks.get(check)
        if not isinstance(found, Mapping):
            continue
        sha = run.logs.get(name)
        text = log(sha) if sha else verify_text(test, check, found).encode()
        (folder / name).write_bytes(text)
    run_1 = folder / "performance" / "run_1"
    run_1.mkdir(parents=True, exist_ok=True)
    for name in PERFORMANCE_FILES:
        sha = run.logs.get(name)
        if not sha:
            raise SubmissionError(
                f"{test} run {run.run_id} has no {name} in the results database",
                where=f"run {run.run_id}",
                why="the run was recorded without its LoadGen files",
                hint="record the run's results/ folder with `mlenv results import`",
            )
        (run_1 / name).write_bytes(log(sha))
    accuracy = checks.get("accuracy")
    if test == "TEST01" and isinstance(accuracy, Mapping):
        _test01_accuracy(folder / "accuracy", run, accuracy, log)


def _test01_accuracy(folder: Path, run: RunRow, check: Mapping[str, Any], log: Log) -> None:
    """accuracy/ when mlenv compared TEST01's responses by their metric (they differed from the
    accuracy run's bytes); nothing when they matched byte for byte (no metric was computed)."""
    metric, base, got = check.get("metric"), check.get("reference_value"), check.get("test_value")
    sha = run.logs.get("mlperf_log_accuracy.json")
    if not isinstance(metric, str) or base is None or got is None or not sha:
        return
    folder.mkdir(parents=True, exist_ok=True)
    whole = log(sha)
    (folder / "mlperf_log_accuracy.json").write_bytes(A.truncate(whole))
    (folder / "accuracy.txt").write_text(
        A.accuracy_text({metric: got}, None, whole), encoding="utf-8"
    )
    for name, value in (("baseline_accuracy.txt", base), ("compliance_accuracy.txt", got)):
        lines = A.metric_lines({metric: value}, None)
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def passes(path: Path) -> bool:
    """A verify file says TEST PASS on a line of its own."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return PASS_LINE in (line.strip() for line in text.splitlines())
