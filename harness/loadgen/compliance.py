"""LoadGen's audit (compliance) tests: the audit config we pass, and the verdict from the logs.

- TEST01 runs in performance mode with a random part of the responses logged to the accuracy
  log. It passes when every logged response equals the accuracy run's response for the same
  sample (or, where the bytes differ, the metric on those samples agrees within 1%), and its
  performance is within 10% of the performance run (20% for stream latencies below 200 us
  single / 1.6 ms multi, where noise dominates).
- TEST04 issues one sample over and over (``performance_issue_same``). It fails when that is
  more than 10% faster (20% for short stream latencies) than the performance run's unique
  samples: a sign of results cached between queries.

The audit config goes to LoadGen by path (never picked up from the working directory) and is
kept beside the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..metrics.base import Metric
from ..results import logs
from .scenarios import Scenario

AUDIT_CONFIG = "audit.config"
TEST04_SAME_INDEX = 3
# seed of the TEST01 accuracy-log sampling; any fixed value makes the sample reproducible
TEST01_SEED = 3141592653589793238
TEST01_SAMPLING_TARGET = 1024
ACCURACY_TOLERANCE = 0.01


def audit_config(test: str) -> str:
    """The audit config text: ``*.*.key = value`` lines for every model and scenario."""
    lines = [f"# mlenv compliance {test}: settings LoadGen applies over user.conf", "*.*.mode = 2"]
    if test == "TEST01":
        lines += [
            f"*.*.accuracy_log_rng_seed = {TEST01_SEED}",
            f"*.*.accuracy_log_sampling_target = {TEST01_SAMPLING_TARGET}",
        ]
    else:
        lines += [
            "*.*.performance_issue_unique = 0",
            "*.*.performance_issue_same = 1",
            f"*.*.performance_issue_same_index = {TEST04_SAME_INDEX}",
        ]
    return "\n".join(lines) + "\n"


def check_possible(test: str, reference_dir: Path, performance_sample_count: int) -> None:
    """The reference runs must exist before the audit test starts."""
    needed = [reference_dir / "performance" / "run_1" / logs.DETAIL]
    if test == "TEST01":
        needed.append(reference_dir / "accuracy" / logs.ACCURACY)
    else:
        if performance_sample_count <= TEST04_SAME_INDEX:
            raise HarnessError(
                f"TEST04 issues sample {TEST04_SAME_INDEX}; the performance sample count is "
                f"only {performance_sample_count}"
            )
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise HarnessError(
            f"{test} compares with runs that are missing: {', '.join(missing)}",
            hint="run the performance and accuracy modes of this scenario first",
        )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    test: str
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check["pass"] for check in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "pass": self.passed, "checks": self.checks}


def verdict(
    test: str,
    scenario: Scenario,
    output_dir: Path,
    reference_dir: Path,
    *,
    metric: Metric,
    labels: Any,
) -> Verdict:
    checks: dict[str, dict[str, Any]] = {}
    if test == "TEST01":
        checks["accuracy"] = _accuracy(output_dir, reference_dir, metric, labels)
    checks["performance"] = _performance(test, scenario, output_dir, reference_dir)
    return Verdict(test=test, checks=checks)


def _accuracy(output_dir: Path, reference_dir: Path, metric: Metric, labels: Any) -> dict[str, Any]:
    logged = logs.read_accuracy_entries(output_dir)
    reference = logs.read_accuracy_log(reference_dir / "accuracy")
    compared = [(i, data) for i, data in logged if i in reference]
    mismatched = sorted({i for i, data in compared if data != reference[i]})
    check: dict[str, Any] = {
        "logged": len(logged),
        "compared": len(compared),
        "mismatched": len(mismatched),
        "missing_in_reference": len(logged) - len(compared),
    }
    if not compared:
        check.update(
            {"pass": False, "reason": "no logged response could be compared with the reference"}
        )
        return check
    if not mismatched:
        check["pass"] = True
        return check
    subset: dict[int, bytes] = {}
    for i, data in compared:
        subset.setdefault(i, data)
    test_score = metric.score(subset, labels).values
    base_score = metric.score({i: reference[i] for i in subset}, labels).values
    name = next(iter(base_score))
    base, got = base_score[name], test_score[name]
    close = abs(got - base) <= ACCURACY_TOLERANCE * max(abs(base), 1e-12)
    check.update(
        {
            "pass": close,
            "metric": name,
            "reference_value": base,
            "test_value": got,
            "reason": "responses differ from the accuracy run; the metric on them "
            + ("agrees" if close else "does not agree")
            + f" within {ACCURACY_TOLERANCE:.0%}",
        }
    )
    return check


def _performance(
    test: str, scenario: Scenario, output_dir: Path, reference_dir: Path
) -> dict[str, Any]:
    reference_log = logs.read_detail_log(reference_dir / "performance" / "run_1")
    test_log = logs.read_detail_log(output_dir)
    ref = _score(reference_log.values, scenario.score_key, reference_dir)
    got = _score(test_log.values, scenario.score_key, output_dir)
    tolerance = 0.10
    if scenario.score_is_latency and ref <= {"SingleStream": 200_000}.get(scenario.name, 1_600_000):
        tolerance = 0.20
    ratio = got / ref if ref else float("inf")
    if test == "TEST01":
        ok = abs(ratio - 1) <= tolerance
    elif scenario.score_is_latency:  # same sample much faster: lower latency
        ok = ratio >= 1 - tolerance
    else:
        ok = ratio <= 1 + tolerance
    check: dict[str, Any] = {
        "score": scenario.score_key,
        "reference": ref,
        "test": got,
        "ratio": ratio,
        "tolerance": tolerance,
    }
    invalid = [
        name
        for name, values in (("reference", reference_log.values), ("test", test_log.values))
        if values.get("result_validity") != "VALID"
    ]
    if invalid:
        ok = False
        check["reason"] = f"the {' and the '.join(invalid)} run is INVALID"
    check["pass"] = ok
    return check


def _score(values: Mapping[str, object], key: str, folder: Path) -> float:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HarnessError(f"LoadGen's detail log in {folder} has no {key}")
    return float(value)


def report_lines(verdict: Verdict, check: str) -> str:
    """verify_accuracy.txt / verify_performance.txt: the figures, then TEST PASS or TEST FAIL."""
    found = verdict.checks[check]
    lines = [f"{verdict.test} {check} check"]
    lines += [f"{key} = {value}" for key, value in found.items() if key != "pass"]
    lines.append("TEST PASS" if found["pass"] else "TEST FAIL")
    return "\n".join(lines) + "\n"
