"""``top1``: the predicted class (argmax of the first output) against the label.

The first output is one score per class, ``[N, classes]`` (``[N, 1, …, classes]`` is taken as
such); labels are class indices, an integer array of the dataset's samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import HarnessError
from .base import MetricResult

_RESPONSE = np.dtype("<i4")


class Top1:
    def ready(self) -> None:
        pass

    def responses(self, outputs: Sequence[NDArray[Any]]) -> NDArray[Any]:
        scores = outputs[0]
        if scores.ndim > 2 and all(d == 1 for d in scores.shape[1:-1]):
            scores = scores.reshape(scores.shape[0], scores.shape[-1])  # [N, 1, classes]
        if scores.ndim != 2 or scores.shape[1] < 1:
            raise HarnessError(
                f"top1 scores the model's first output as [N, classes], it is shaped "
                f"{list(outputs[0].shape)}",
                hint="give the model recipe an output of one score per class first "
                "(top1 takes its argmax as the predicted class index)",
            )
        predicted: NDArray[np.int32] = scores.argmax(axis=-1).astype(_RESPONSE)
        return predicted

    def score(self, responses: Mapping[int, bytes], labels: NDArray[Any]) -> MetricResult:
        total = len(responses)
        if total == 0:
            raise HarnessError("top1: LoadGen logged no responses to score")
        indices = np.fromiter(responses.keys(), dtype=np.int64, count=total)
        data = b"".join(responses.values())
        if len(data) != total * _RESPONSE.itemsize or indices.max() >= len(labels):
            raise HarnessError(
                "top1: the accuracy log does not hold one class index per sample of this dataset"
            )
        predicted = np.frombuffer(data, dtype=_RESPONSE)
        correct = int(np.count_nonzero(predicted == labels[indices]))
        value = correct / total
        return MetricResult(
            values={"top1": value},
            # the first line is what the MLPerf submission checker reads (as the reference writes it)
            summary=f"accuracy={100 * value:.3f}%, good={correct}, total={total}\n"
            f"top1 = {value:.4f} ({correct}/{total})",
        )
