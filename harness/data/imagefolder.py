"""``image-folder``: a folder of your own images, labelled by class subfolders or by a list file.

``preprocess: {name: image-folder, size: 224, layout: NCHW, mean: [...], std: [...],
dtype: float32}``. Two layouts of the folder:

- class subfolders (no ``list``): ``<folder>/<class>/<image>``; the classes are the sorted
  subfolder names (hidden ones skipped) and a class's label is its index in that order, as
  torchvision's ``ImageFolder`` numbers them; the images are the files directly in each class
  folder (hidden files skipped);
- a list file (``list: val_map.txt``, relative to the folder): lines ``IMAGE LABEL``, the
  image path relative to the list, as ImageNet's validation map.

Images have the extensions .jpg .jpeg .png .bmp .webp .gif .tif .tiff (any case; a GIF's
first frame); other files are skipped. Each is decoded to RGB with Pillow and resized to
``size`` (one side, or ``[height, width]``); with ``resize`` (the shorter side first) the
central ``size`` is cut out instead, keeping the aspect. Then ``(pixel - mean) / std`` per
channel on 0..255 values, as ``image-classification`` does (torchvision's 0..1 ImageNet
normalization is ``mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]`` here; none
for ``dtype: uint8``), laid out NCHW or NHWC.

The samples are ordered class by class in turn (the first image of each class, then the second
of each, …; files sorted by name), so that ``--samples N`` (the first N) holds every class;
with a list file, the list's order. Metric ``top1``.
"""

from __future__ import annotations

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
    count,
    dataset_file,
    one_of,
    read_params,
    size2,
    text,
)
from .images import (
    IMAGE_PARAMS,
    INTERPOLATIONS,
    _read_list,
    center_crop,
    fill_parallel,
    image_shape,
    normalize,
    open_rgb,
    pillow,
    resize_shorter,
)

NAME = "image-folder"
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")

FOLDER_PARAMS: Mapping[str, Param] = {
    "size": Param((224, 224), size2, "an integer > 0 or [height, width]"),
    "resize": Param(0, count, "an integer > 0 (the shorter side before a central crop)"),
    "list": Param(None, text, "a file name (lines 'IMAGE LABEL')"),
    "interpolation": Param(
        "bilinear", one_of(*INTERPOLATIONS), f"one of {', '.join(INTERPOLATIONS)}"
    ),
    **IMAGE_PARAMS,
}


def is_image(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def class_folders(root: Path) -> list[str]:
    """The class names: the sorted, non-hidden subfolders of ``root``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_entries(root: Path, samples: int) -> list[tuple[Path, int]]:
    """(image, class index) of the first ``samples`` images, classes taken in turn."""
    if not root.is_dir():
        raise HarnessError(
            f"preprocessor {NAME}: {root} is not a folder",
            hint="the dataset should be a folder of class subfolders, or set preprocess list",
        )
    classes = class_folders(root)
    if not classes:
        listed = "" if not (root / "val_map.txt").is_file() else " (it has a val_map.txt)"
        raise HarnessError(
            f"preprocessor {NAME}: {root} has no class subfolders{listed}",
            hint="put each class's images in a subfolder named after it, or set "
            "`list: val_map.txt` in the dataset recipe's preprocess",
        )
    per_class = [
        sorted(p for p in (root / name).iterdir() if p.is_file() and is_image(p))
        for name in classes
    ]
    entries: list[tuple[Path, int]] = []
    for turn in range(max(len(images) for images in per_class)):
        for label, images in enumerate(per_class):
            if turn < len(images):
                entries.append((images[turn], label))
                if len(entries) == samples:
                    return entries
    unit = f"images in {len(classes)} class folders ({', '.join(EXTENSIONS)})"
    raise TooFewSamples(str(root), found=len(entries), wanted=samples, unit=unit)


def list_entries(path: Path, listing: str, samples: int) -> list[tuple[Path, int]]:
    file = dataset_file(path, listing, name=NAME, what="image list")
    return [(file.parent / image, label) for image, label in _read_list(file, samples, name=NAME)]


def load_image_folder(
    path: Path, params: Mapping[str, object], samples: int, allocate: Allocate
) -> Dataset:
    p = read_params(params, FOLDER_PARAMS, name=NAME)
    height, width = p["size"]
    resize = int(p["resize"])
    if resize and resize < max(height, width):
        raise HarnessError(
            f"preprocessor {NAME}: resize ({resize}) is smaller than size ({height}x{width})",
            hint="resize is the shorter side before the central crop of size",
        )
    listing = p["list"]
    entries = (
        list_entries(path, str(listing), samples) if listing else folder_entries(path, samples)
    )
    image_module = pillow(NAME)
    interpolation = str(p["interpolation"])

    def make(entry: tuple[Path, int]) -> NDArray[Any]:
        image = open_rgb(image_module, entry[0], name=NAME)
        if resize:
            image = resize_shorter(image_module, image, resize, interpolation)
            return normalize(center_crop(np.asarray(image), height, width), p)
        image = image.resize((width, height), _resample(image_module, interpolation))
        return normalize(np.asarray(image), p)

    features = allocate((samples, *image_shape(height, width, str(p["layout"]))), str(p["dtype"]))
    fill_parallel(features, entries, make)
    labels = np.array([label for _, label in entries], dtype=np.int64)
    return Dataset(features=(features,), labels=labels)


def _resample(image_module: Any, interpolation: str) -> Any:
    """Pillow's filter for an interpolation name (``area`` is its box filter)."""
    return {
        "bilinear": image_module.BILINEAR,
        "linear": image_module.BILINEAR,
        "area": image_module.BOX,
        "bicubic": image_module.BICUBIC,
        "nearest": image_module.NEAREST,
    }[interpolation]
