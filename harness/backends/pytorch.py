"""``torch``: PyTorch models, on the GPU when torch sees one, else the CPU.

The model recipe's format is ``torchscript``; the file is one of:
- a TorchScript archive (``torch.jit.save``), loaded with ``torch.jit.load``;
- a ``torch.export`` program (``torch.export.save``, a ``.pt2`` file), run as its eager module;
- a whole pickled ``nn.Module`` (``torch.save(module)``), whose class the environment can
  import (torch.nn, torchvision, …): an eager module.
The module is called with one tensor per declared input, in order; it returns a tensor, a
tuple or list of them (declared output order), or a dict keyed by the declared output names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ..config import BackendSpec, ModelSpec
from ..errors import HarnessError
from .base import Backend, Runner, load_failed, require_format


class TorchBackend:
    def __init__(self, model: ModelSpec, spec: BackendSpec) -> None:
        require_format(model, "torch", ("torchscript",))
        if spec.threads:
            torch.set_num_threads(spec.threads)
            # only possible before any parallel work; harmless to skip after
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(1)
        self._threads = spec.threads
        self._device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            module = _load(str(model.path)).to(self._device)
        except HarnessError:
            raise
        except Exception as e:  # torch raises many kinds
            raise load_failed(model, f"torch {torch.__version__}", e) from e
        self._module = module
        self._outputs = [t.name for t in model.outputs]

    @property
    def version(self) -> str:
        return str(torch.__version__)

    @property
    def provider(self) -> str:
        return self._device.type

    @property
    def threads(self) -> int:
        return self._threads

    def runner(self) -> Runner:
        return self

    def parameter_count(self) -> int:
        return sum(int(p.numel()) for p in self._module.parameters())

    def run(self, inputs: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
        tensors = [torch.from_numpy(np.asarray(a)).to(self._device) for a in inputs]
        with torch.inference_mode():
            result = self._module(*tensors)
        if isinstance(result, torch.Tensor):
            values: list[Any] = [result]
        elif isinstance(result, dict):
            values = [result[name] for name in self._outputs]
        else:
            values = list(result)
        return [v.detach().cpu().numpy() for v in values]


def _load(path: str) -> Any:
    if path.endswith(".pt2"):
        return torch.export.load(path).module()  # its own train/eval state is kept
    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except RuntimeError as e:
        if "constants.pkl" not in str(e):  # a zip that torch.save wrote, not a TorchScript one
            raise
    module = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(module, torch.nn.Module):
        raise HarnessError(
            f"model {path}: holds a {type(module).__name__}, not a TorchScript archive, "
            "a torch.export program (.pt2) or a pickled torch.nn.Module",
            hint="save the model with torch.jit.save, torch.export.save or torch.save(module)",
        )
    return module.eval()


def create(model: ModelSpec, spec: BackendSpec) -> Backend:
    return TorchBackend(model, spec)
