"""``map``: COCO mean average precision (IoU 0.50:0.95) of boxes, through pycocotools.

The model's outputs, in the declared order: boxes [N, K, 4] as normalized ``ymin, xmin, ymax,
xmax``; classes [N, K]; scores [N, K]; optionally the number of valid detections [N]. The
response of a sample is K rows of float32 ``ymin, xmin, ymax, xmax, score, class`` (rows past
the valid count get score 0 and are not scored).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import HarnessError
from .base import MetricResult


class CocoMap:
    def ready(self) -> None:
        _pycocotools()

    def responses(self, outputs: Sequence[NDArray[Any]]) -> NDArray[Any]:
        if len(outputs) < 3:
            raise ValueError("map needs the outputs boxes [N,K,4], classes [N,K], scores [N,K]")
        boxes, classes, scores = outputs[0], outputs[1], outputs[2]
        scores = scores.astype(np.float32)
        if len(outputs) > 3:
            valid = np.arange(scores.shape[1])[None, :] < outputs[3].reshape(-1, 1)
            scores = np.where(valid, scores, np.float32(0))
        rows = np.concatenate(
            [boxes.astype(np.float32), scores[..., None], classes.astype(np.float32)[..., None]],
            axis=2,
        )
        return rows.astype("<f4", copy=False)

    def score(self, responses: Mapping[int, bytes], labels: Any) -> MetricResult:
        coco_module, eval_module = _pycocotools()
        if not responses:
            raise HarnessError("map: LoadGen logged no responses to score")
        detections = []
        image_ids = []
        categories = labels["categories"]
        for index, data in responses.items():
            rows = np.frombuffer(data, dtype="<f4")
            if rows.size % 6 or index >= len(labels["image_ids"]):
                raise HarnessError("map: the accuracy log does not hold detection rows")
            image_id = labels["image_ids"][index]
            image_ids.append(image_id)
            height, width = labels["sizes"][index]
            for ymin, xmin, ymax, xmax, score, cls in rows.reshape(-1, 6).tolist():
                category = _category(cls, labels, categories)
                if score <= 0 or category is None:
                    continue
                box = [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]
                detections.append(
                    {"image_id": image_id, "category_id": category, "bbox": box, "score": score}
                )
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            truth = coco_module.COCO(labels["annotations"])
            value = 0.0
            if detections:
                found = truth.loadRes(detections)
                evaluation = eval_module.COCOeval(truth, found, iouType="bbox")
                evaluation.params.imgIds = sorted(set(image_ids))
                evaluation.evaluate()
                evaluation.accumulate()
                evaluation.summarize()
                value = max(0.0, float(evaluation.stats[0]))
        return MetricResult(
            values={"map": value},
            summary=f"mAP={100 * value:.3f}%\n"  # the line the MLPerf submission checker reads
            f"mAP = {value:.4f} ({len(image_ids)} images, {len(detections)} detections)",
        )


def _category(value: float, labels: Mapping[str, Any], categories: list[int]) -> int | None:
    k = round(value)
    if labels["classes"] == "category":
        return k if k in categories else None
    k -= int(labels["label_offset"])
    return categories[k] if 0 <= k < len(categories) else None


def _pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools import coco, cocoeval
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != "pycocotools":
            raise
        raise HarnessError(
            "metric map scores with pycocotools, which is not installed in this environment",
            hint="add a recipe that installs pycocotools (PyPI: pycocotools) to the manifest's "
            "requires, then run `mlenv install`",
        ) from e
    return coco, cocoeval
