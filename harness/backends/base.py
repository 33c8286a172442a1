"""What every backend offers, and the check of a model's declared tensors against the real ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec, TensorSpec
from ..errors import HarnessError


class Runner(Protocol):
    """Runs the model for one worker thread: one array per declared input (axis 0 = batch) in,
    one array per declared output, in the declared order, out."""

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]: ...


class Backend(Runner, Protocol):
    """A loaded model. ``runner()`` gives each worker thread what it may call concurrently
    with the others (the backend itself when the engine is thread-safe)."""

    @property
    def version(self) -> str: ...

    @property
    def provider(self) -> str:
        """Where it runs, as the engine names it (CPUExecutionProvider, cuda, CPU, …)."""
        ...

    @property
    def threads(self) -> int:
        """Intra-op threads per call; 0 when the engine takes every core."""
        ...

    def runner(self) -> Runner: ...


BackendFactory = Callable[[ModelSpec, BackendSpec], Backend]


def require_format(model: ModelSpec, backend: str, formats: Sequence[str]) -> None:
    if model.format not in formats:
        raise HarnessError(
            f"backend {backend} runs {' or '.join(formats)} models, the model's format is "
            f"{model.format}",
            hint="choose a backend for that format in the manifest's benchmark.backend",
        )
    if not model.path.exists():
        raise HarnessError(
            f"model file {model.path} does not exist", hint="run `mlenv install` again"
        )


def load_failed(model: ModelSpec, engine: str, e: BaseException) -> HarnessError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return HarnessError(f"model {model.path}: {engine} cannot load it: {first}")


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
