"""The performance figures of one test, as LoadGen reported them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..errors import HarnessError
from ..loadgen.scenarios import Scenario
from .logs import DetailLog, summary_validity

PERCENTILES: Mapping[str, str] = MappingProxyType({"p50": "50.00", "p90": "90.00", "p99": "99.00"})


@dataclass(frozen=True, kw_only=True)
class Performance:
    valid: bool
    samples_per_second: float | None
    latency_ns: dict[str, int | None]  # p50, p90, p99
    mean_latency_ns: float | None
    query_count: int | None
    invalid_reason: str | None


def performance(log: DetailLog, scenario: Scenario, output_dir: Path) -> Performance:
    values = log.values
    validity = values.get("result_validity")
    valid = validity == "VALID" if validity is not None else summary_validity(output_dir)
    if valid is None:
        raise HarnessError(
            f"LoadGen reported no result in {output_dir}",
            hint="see mlperf_log_detail.txt there for LoadGen's errors",
        )
    mean = _number(values.get("result_mean_latency_ns"))
    if scenario.throughput_key is not None:
        throughput = _number(values.get(scenario.throughput_key))
    else:
        throughput = 1e9 / mean if mean else None
    count = _number(values.get("result_query_count"))
    reason = values.get("result_invalid_reason")
    return Performance(
        valid=valid,
        samples_per_second=throughput,
        latency_ns={
            name: _integer(values.get(f"result_{p}_percentile_latency_ns"))
            for name, p in PERCENTILES.items()
        },
        mean_latency_ns=mean,
        query_count=None if count is None else int(count),
        invalid_reason=str(reason).strip() if reason else None,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
