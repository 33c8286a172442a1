"""What every backend offers, and the check of a model's declared tensors against the real ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from ..errors import HarnessError


class Backend(Protocol):
    """A loaded model: ``run`` takes one array per declared input (axis 0 = batch) and returns
    one array per declared output, in the declared order."""

    @property
    def version(self) -> str: ...

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]: ...


BackendFactory = Callable[[ModelSpec, BackendSpec], Backend]


def check_tensors(
    declared: Sequence[TensorSpec], actual: Sequence[TensorSpec], *, kind: str, model: Path
) -> None:
    """Declared inputs must be exactly the model's; declared outputs must exist in it.

    Names, dtypes and ranks must agree, and so must every dimension fixed on both sides.
    """
    hint = "the model recipe's inputs/outputs must describe the model file"
    by_name = {t.name: t for t in actual}
    names = [t.name for t in declared]
    missing = [n for n in names if n not in by_name]
    unfed = [t.name for t in actual if t.name not in names] if kind == "input" else []
    if missing or unfed:
        what = f"model {model}: declared {kind}(s) {names}, the model has {list(by_name)}"
        raise HarnessError(what, hint=hint)
    for want in declared:
        got = by_name[want.name]
        dims_ok = len(want.shape) == len(got.shape) and all(
            -1 in (w, g) or w == g for w, g in zip(want.shape, got.shape, strict=True)
        )
        if want.dtype != got.dtype or not dims_ok:
            raise HarnessError(
                f"model {model}: {kind} {want.name} is declared {want.dtype} {list(want.shape)}, "
                f"the model has {got.dtype} {list(got.shape)}",
                hint=hint,
            )
