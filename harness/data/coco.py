"""``object-detection``: COCO-style data (an annotation JSON and a folder of images).

The dataset is a folder holding ``annotations`` (default ``annotations/instances_val2017.json``)
and ``images`` (default ``val2017``), or the annotation file itself (images beside it, under
``images``). Samples are the first N images of the annotation file, each resized to ``size``
(``[height, width]`` or one side) and normalized like the image-classification preprocessor.

The labels (for the ``map`` metric) are plain data: the annotation file's path, the image ids
and sizes, and how the model's class values map to COCO category ids (``classes: index``:
value k is the k-th category by id after subtracting ``label_offset``; ``classes: category``:
the value is the category id).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import HarnessError, TooFewSamples
from .dataset import (
    Allocate,
    Dataset,
    Param,
    dataset_file,
    integer,
    one_of,
    read_params,
    size2,
    text,
)
from .images import IMAGE_PARAMS, fill_parallel, image_shape, normalize, open_rgb, pillow

NAME = "object-detection"
PARAMS: Mapping[str, Param] = {
    "size": Param((300, 300), size2, "an integer or [height, width]"),
    "annotations": Param("annotations/instances_val2017.json", text, "a file name"),
    "images": Param("val2017", text, "a folder name"),
    "classes": Param("index", one_of("index", "category"), "index or category"),
    "label_offset": Param(0, integer, "an integer"),
    **IMAGE_PARAMS,
}


def load_object_detection(
    path: Path, params: Mapping[str, object], samples: int, allocate: Allocate
) -> Dataset:
    p = read_params(params, PARAMS, name=NAME)
    annotations = dataset_file(path, str(p["annotations"]), name=NAME, what="annotation file")
    root = path if path.is_dir() else annotations.parent
    try:
        coco = json.loads(annotations.read_text(encoding="utf-8"))
        images = [
            (int(i["id"]), str(i["file_name"]), int(i["height"]), int(i["width"]))
            for i in coco["images"]
        ]
        categories = sorted(int(c["id"]) for c in coco["categories"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(
            f"preprocessor {NAME}: {annotations} is not a COCO annotation file: {e}"
        ) from e
    if len(images) < samples:
        raise TooFewSamples(str(annotations), found=len(images), wanted=samples, unit="images")
    images = images[:samples]
    height, width = p["size"]
    image_module = pillow(NAME)
    folder = root / str(p["images"])

    def make(entry: tuple[int, str, int, int]) -> NDArray[Any]:
        image = open_rgb(image_module, folder / entry[1], name=NAME)
        resized = image.resize((width, height), image_module.BILINEAR)
        return normalize(np.asarray(resized), p)

    features = allocate((samples, *image_shape(height, width, str(p["layout"]))), str(p["dtype"]))
    fill_parallel(features, images, make)
    labels = {
        "annotations": str(annotations.resolve()),
        "image_ids": [i[0] for i in images],
        "sizes": [[i[2], i[3]] for i in images],
        "categories": categories,
        "classes": p["classes"],
        "label_offset": p["label_offset"],
    }
    return Dataset(features=(features,), labels=labels)
