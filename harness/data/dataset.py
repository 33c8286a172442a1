"""A preprocessed dataset, its check against the model's inputs, and preprocessor parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..config import TensorSpec
from ..errors import HarnessError


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """``features[i]`` feeds model input ``i``; axis 0 of every array is the sample index.

    ``labels`` is what the metric scores against: an integer array for ``top1``, plain JSON
    data (lists, dicts with string keys) for the other metrics, so that the QSL cache can
    keep it beside the arrays.
    """

    features: tuple[NDArray[Any], ...]
    labels: Any

    def __len__(self) -> int:
        return int(self.features[0].shape[0])

    def check_against(self, inputs: Sequence[TensorSpec], *, name: str) -> None:
        """The model's declared inputs must take these arrays as they are."""
        if len(inputs) != len(self.features):
            raise HarnessError(
                f"preprocessor {name} makes {len(self.features)} input array(s), "
                f"the model declares {len(inputs)} input(s)",
                hint="check the model recipe's inputs and the dataset recipe's preprocess",
            )
        for spec, array in zip(inputs, self.features, strict=True):
            got = str(array.dtype)
            want_dims = spec.shape[1:]
            got_dims = array.shape[1:]
            dims_ok = len(want_dims) == len(got_dims) and all(
                w in (-1, g) for w, g in zip(want_dims, got_dims, strict=True)
            )
            if got != spec.dtype or not dims_ok:
                raise HarnessError(
                    f"model input {spec.name} is declared {spec.dtype} {list(spec.shape)}, "
                    f"preprocessor {name} makes {got} {[-1, *got_dims]}",
                    hint="the model and dataset recipes do not fit together",
                )


# Makes an array that the preprocessor fills: a memory-mapped file of the QSL cache, or
# plain memory when there is no cache. Arrays are requested in model-input order.
Allocate = Callable[[tuple[int, ...], str], NDArray[Any]]
Preprocessor = Callable[[Path, Mapping[str, object], int, Allocate], Dataset]


def in_memory(shape: tuple[int, ...], dtype: str) -> NDArray[Any]:
    return np.empty(shape, dtype=dtype)


# A parameter: its default and how to read a value. Readers raise ValueError with the reason.
Reader = Callable[[object], object]


@dataclass(frozen=True)
class Param:
    default: object
    read: Reader
    text: str  # what the reader accepts, for messages


def read_params(
    params: Mapping[str, object], spec: Mapping[str, Param], *, name: str
) -> dict[str, Any]:
    """Preprocessor parameters from the dataset recipe: unknown names and bad values are errors."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise HarnessError(
            f"preprocessor {name}: unknown parameter(s) {', '.join(unknown)}",
            hint=f"it takes {', '.join(spec) or 'no parameters'}",
        )
    values = {key: p.default for key, p in spec.items()}
    problems = []
    for key, value in params.items():
        try:
            values[key] = spec[key].read(value)
        except ValueError:
            problems.append(f"{key} must be {spec[key].text}, found {value!r}")
    if problems:
        raise HarnessError(
            f"preprocessor {name}: {'; '.join(problems)}",
            hint="fix the dataset recipe's preprocess parameters",
        )
    return values


def positive(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError
    return float(value)


def count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError
    return value


def integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError
    return value


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def one_of(*choices: str) -> Reader:
    def read(value: object) -> str:
        if value not in choices:
            raise ValueError
        return str(value)

    return read


def numbers(length: int, *, nonzero: bool = False) -> Reader:
    def read(value: object) -> tuple[float, ...]:
        if not isinstance(value, list | tuple) or len(value) != length:
            raise ValueError
        out = tuple(positive(v) if nonzero else _number(v) for v in value)
        return out

    return read


def size2(value: object) -> tuple[int, int]:
    """A size: one integer (square) or [height, width]."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return count(value[0]), count(value[1])
    side = count(value)
    return side, side


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError
    return float(value)


def take_params(
    params: Mapping[str, object], defaults: Mapping[str, float], *, name: str
) -> dict[str, float]:
    """Numeric preprocessor parameters, each a number > 0."""
    spec = {key: Param(value, positive, "a number > 0") for key, value in defaults.items()}
    return read_params(params, spec, name=name)


def labels_as_int(values: NDArray[np.float64], *, source: str) -> NDArray[np.int64]:
    labels = values.astype(np.int64)
    if not np.array_equal(labels, values):
        raise HarnessError(f"{source}: labels must be integers")
    return labels


def dataset_file(path: Path, default: str, *, name: str, what: str) -> Path:
    """The dataset path is the file itself, or a folder holding ``default``."""
    found = path / default if path.is_dir() else path
    if not found.is_file():
        raise HarnessError(
            f"preprocessor {name}: no {what} at {found}",
            hint="the dataset artifact should be that file, or a folder holding it",
        )
    return found
