"""Image tasks: decoding (Pillow, when the environment has it), resizing, cropping, normalizing.

``image-classification``: the dataset is a folder holding a list file (default
``val_map.txt``, lines ``relative/path.JPEG label``, ImageNet's layout) and the images, or the
list file itself. Each image: shorter side resized to ``resize`` (bilinear), the central
``size`` square cut out, ``(pixel - mean) / std`` per RGB channel on 0..255 values, laid out
NCHW or NHWC. Labels are the list's integers plus ``label_offset``; metric ``top1``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
    integer,
    numbers,
    one_of,
    read_params,
    text,
)

LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float16", "uint8")

# parameters shared by the image preprocessors
IMAGE_PARAMS: Mapping[str, Param] = {
    "mean": Param((0.0, 0.0, 0.0), numbers(3), "a list of 3 numbers (R, G, B on 0..255)"),
    "std": Param((1.0, 1.0, 1.0), numbers(3, nonzero=True), "a list of 3 numbers > 0"),
    "layout": Param("NCHW", one_of(*LAYOUTS), f"one of {', '.join(LAYOUTS)}"),
    "dtype": Param("float32", one_of(*DTYPES), f"one of {', '.join(DTYPES)}"),
}


def pillow(name: str) -> Any:
    """Pillow's Image module, or an error that says how to get it."""
    try:
        from PIL import Image
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != "PIL":
            raise
        raise HarnessError(
            f"preprocessor {name} decodes JPEG/PNG images with Pillow, which is not installed "
            "in this environment",
            hint="add a recipe that installs Pillow (PyPI: pillow) to the manifest's requires, "
            "then run `mlenv install`",
        ) from e
    return Image


def open_rgb(image_module: Any, path: Path, *, name: str) -> Any:
    try:
        with image_module.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as e:
        raise HarnessError(f"preprocessor {name}: cannot decode the image {path}: {e}") from e


INTERPOLATIONS = ("bilinear", "linear", "area", "bicubic", "nearest")


def resize_shorter(
    image_module: Any, image: Any, side: int, interpolation: str = "bilinear"
) -> Any:
    """Scale so the shorter side is `side`; `area` is Pillow's box filter (OpenCV's INTER_AREA
    for downscaling, as the MLPerf ResNet50 reference uses), `linear` is bilinear."""
    width, height = image.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    resample = {
        "bilinear": image_module.BILINEAR,
        "linear": image_module.BILINEAR,
        "area": image_module.BOX,
        "bicubic": image_module.BICUBIC,
        "nearest": image_module.NEAREST,
    }[interpolation]
    return image.resize(size, resample)


def center_crop(pixels: NDArray[np.uint8], height: int, width: int) -> NDArray[np.uint8]:
    top = (pixels.shape[0] - height) // 2
    left = (pixels.shape[1] - width) // 2
    return pixels[top : top + height, left : left + width]


def normalize(pixels: NDArray[np.uint8], params: Mapping[str, Any]) -> NDArray[Any]:
    """HWC uint8 -> the layout and dtype asked for, ``(pixel - mean) / std`` unless uint8."""
    if params["dtype"] == "uint8":
        out: NDArray[Any] = pixels
    else:
        mean = np.asarray(params["mean"], dtype=np.float32)
        std = np.asarray(params["std"], dtype=np.float32)
        out = ((pixels.astype(np.float32) - mean) / std).astype(params["dtype"])
    return np.transpose(out, (2, 0, 1)) if params["layout"] == "NCHW" else out


def image_shape(height: int, width: int, layout: str) -> tuple[int, int, int]:
    return (3, height, width) if layout == "NCHW" else (height, width, 3)


def fill_parallel(
    out: NDArray[Any], items: Sequence[Any], make: Callable[[Any], NDArray[Any]]
) -> None:
    """``out[i] = make(items[i])`` on a few threads (Pillow decodes without the GIL)."""

    def one(i: int) -> None:
        out[i] = make(items[i])

    workers = max(
        1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, range(len(items))):
            pass


CLASSIFICATION_PARAMS: Mapping[str, Param] = {
    "size": Param(224, count, "an integer > 0 (the side of the square crop)"),
    "resize": Param(0, count, "an integer > 0 (the shorter side before the crop)"),
    "list": Param("val_map.txt", text, "a file name"),
    "label_offset": Param(0, integer, "an integer"),
    "interpolation": Param(
        "bilinear", one_of(*INTERPOLATIONS), f"one of {', '.join(INTERPOLATIONS)}"
    ),
    **IMAGE_PARAMS,
}


def load_image_classification(
    path: Path, params: Mapping[str, object], samples: int, allocate: Allocate
) -> Dataset:
    name = "image-classification"
    p = read_params(params, CLASSIFICATION_PARAMS, name=name)
    size = int(p["size"])
    resize = int(p["resize"]) or round(size / 0.875)
    if resize < size:
        raise HarnessError(f"preprocessor {name}: resize ({resize}) is smaller than size ({size})")
    listing = dataset_file(path, str(p["list"]), name=name, what="image list")
    entries = _read_list(listing, samples, name=name)
    image_module = pillow(name)
    root = listing.parent

    def make(entry: tuple[str, int]) -> NDArray[Any]:
        image = resize_shorter(
            image_module,
            open_rgb(image_module, root / entry[0], name=name),
            resize,
            str(p["interpolation"]),
        )
        return normalize(center_crop(np.asarray(image), size, size), p)

    features = allocate((samples, *image_shape(size, size, str(p["layout"]))), str(p["dtype"]))
    fill_parallel(features, entries, make)
    labels = np.array([label for _, label in entries], dtype=np.int64) + int(p["label_offset"])
    return Dataset(features=(features,), labels=labels)


def _read_list(listing: Path, samples: int, *, name: str) -> list[tuple[str, int]]:
    entries: list[tuple[str, int]] = []
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"preprocessor {name}: cannot read {listing}: {e}") from e
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise HarnessError(
                f"{listing}:{number}: expected 'IMAGE LABEL', found {line.strip()!r}",
                hint="each line names an image (relative to the list) and its class index",
            )
        entries.append((parts[0], int(parts[1])))
        if len(entries) == samples:
            return entries
    raise TooFewSamples(str(listing), found=len(entries), wanted=samples, unit="images listed")
