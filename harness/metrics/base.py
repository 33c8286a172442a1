"""The metric interface and its result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from numpy.typing import NDArray


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    values: Mapping[str, float]  # goes to result.json "accuracy"
    summary: str  # one human line, the content of accuracy.txt


class Metric(Protocol):
    def ready(self) -> None:
        """Raise HarnessError when this environment cannot score (a missing package)."""
        ...

    def responses(self, outputs: Sequence[NDArray[Any]]) -> NDArray[Any]:
        """The response of each sample of a batch: axis 0 is the sample, the rest its bytes.

        The same bytes go to LoadGen in performance and in accuracy mode.
        """
        ...

    def score(self, responses: Mapping[int, bytes], labels: Any) -> MetricResult:
        """Score the responses LoadGen logged, one per sample index, against the labels.

        Only the samples in ``responses`` count (a compliance test scores a subset).
        """
        ...
