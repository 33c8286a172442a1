"""A preprocessed dataset, held in memory, and its check against the model's inputs."""

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
    """``features[i]`` feeds model input ``i``; axis 0 of every array is the sample index."""

    features: tuple[NDArray[Any], ...]
    labels: NDArray[Any]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

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


Preprocessor = Callable[[Path, Mapping[str, object], int], Dataset]


def take_params(
    params: Mapping[str, object], defaults: Mapping[str, float], *, name: str
) -> dict[str, float]:
    """Numeric preprocessor parameters: unknown names and non-positive values are errors."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise HarnessError(
            f"preprocessor {name}: unknown parameter(s) {', '.join(unknown)}",
            hint=f"it takes {', '.join(defaults) or 'no parameters'}",
        )
    values = dict(defaults)
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise HarnessError(f"preprocessor {name}: {key} must be a number > 0, found {value!r}")
        values[key] = float(value)
    return values


def labels_as_int(values: NDArray[np.float64], *, source: str) -> NDArray[np.int64]:
    labels = values.astype(np.int64)
    if not np.array_equal(labels, values):
        raise HarnessError(f"{source}: labels must be integers")
    return labels
