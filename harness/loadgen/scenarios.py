"""What differs between LoadGen scenarios, as data: how queries are served, how results read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import HarnessError


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str  # LoadGen's name, also the attribute of mlperf_loadgen.TestScenario
    # detail-log key holding the throughput figure; None: the inverse of the mean latency
    throughput_key: str | None
    # the figure a compliance test compares with the reference run: a detail-log key, and
    # whether it is a throughput (higher is better) or a latency
    score_key: str
    score_is_latency: bool
    # answered in LoadGen's issue thread (the next query waits for this one) or by a pool
    pooled: bool


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        "SingleStream": Scenario(
            name="SingleStream",
            throughput_key=None,
            score_key="early_stopping_latency_ss",
            score_is_latency=True,
            pooled=False,
        ),
        "MultiStream": Scenario(
            name="MultiStream",
            throughput_key=None,
            score_key="early_stopping_latency_ms",
            score_is_latency=True,
            pooled=False,
        ),
        "Server": Scenario(
            name="Server",
            throughput_key="result_completed_samples_per_sec",
            score_key="result_completed_samples_per_sec",
            score_is_latency=False,
            pooled=True,
        ),
        "Offline": Scenario(
            name="Offline",
            throughput_key="result_samples_per_second",
            score_key="result_samples_per_second",
            score_is_latency=False,
            pooled=True,
        ),
    }
)


def scenario(name: str) -> Scenario:
    found = SCENARIOS.get(name)
    if found is None:
        raise HarnessError(
            f"scenario {name}: not supported by this harness",
            hint=f"use one of {', '.join(SCENARIOS)}",
        )
    return found
