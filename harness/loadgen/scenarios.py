"""What differs between LoadGen scenarios, as data: how to read the result of each."""

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


# Queries are answered in LoadGen's issue thread, which suits the scenarios below (the next
# query waits for this one, or there is one big query). Server (result key
# "result_completed_samples_per_sec") needs a dispatcher thread that batches arriving queries.


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        "SingleStream": Scenario(name="SingleStream", throughput_key=None),
        "MultiStream": Scenario(name="MultiStream", throughput_key=None),
        "Offline": Scenario(name="Offline", throughput_key="result_samples_per_second"),
    }
)


def scenario(name: str) -> Scenario:
    found = SCENARIOS.get(name)
    if found is None:
        raise HarnessError(
            f"scenario {name}: not supported by this harness yet",
            hint=f"use one of {', '.join(SCENARIOS)}",
        )
    return found
