"""``digits``: scikit-learn's 8x8 handwritten digits table (csv.gz, 64 pixels then the label)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import HarnessError, TooFewSamples
from .dataset import Allocate, Dataset, labels_as_int, take_params

PIXELS = 64


def load_digits(
    path: Path, params: Mapping[str, object], samples: int, allocate: Allocate
) -> Dataset:
    """Features ``pixel / scale`` as float32 [samples, 64]; labels int64 [samples]."""
    scale = take_params(params, {"scale": 16.0}, name="digits")["scale"]
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error) as e:
        raise HarnessError(
            f"dataset {path}: cannot read it as a digits csv.gz: {e}",
            hint="the file should be gzip-compressed rows of 64 pixel values and a label",
        ) from e
    if table.shape[1] != PIXELS + 1:
        raise HarnessError(
            f"dataset {path}: has rows of {table.shape[1]} columns, expected {PIXELS + 1}",
            hint="the file should be gzip-compressed rows of 64 pixel values and a label",
        )
    if table.shape[0] < samples:
        raise TooFewSamples(f"dataset {path}", found=table.shape[0], wanted=samples, unit="rows")
    table = table[:samples]
    features = allocate((samples, PIXELS), "float32")
    np.divide(table[:, :PIXELS], scale, out=features, casting="same_kind")
    return Dataset(features=(features,), labels=labels_as_int(table[:, PIXELS], source=str(path)))
