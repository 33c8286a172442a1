"""One activation for every layer of an environment: the venv, the conda prefix, artifacts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .materialize import Environment

_LIBRARY_PATH = "DYLD_LIBRARY_PATH" if os.uname().sysname == "Darwin" else "LD_LIBRARY_PATH"


def _prepend(value: str | None, *paths: Path) -> str:
    parts = [str(p) for p in paths]
    if value:
        parts.append(value)
    return os.pathsep.join(parts)


def activation(env: Environment, base: Mapping[str, str]) -> dict[str, str]:
    """`base` with the environment switched on: PATH starts with the env's bin folders."""
    out = {k: v for k, v in base.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    bins = [env.python.parent]
    conda = env.path / "conda"
    if conda.is_dir():
        bins.append(conda / "bin")
        out["CONDA_PREFIX"] = str(conda)
        out[_LIBRARY_PATH] = _prepend(base.get(_LIBRARY_PATH), conda / "lib")
    out["PATH"] = _prepend(base.get("PATH"), *bins)
    out["VIRTUAL_ENV"] = str(env.path / "venv")
    out["MLENV_ENV"] = str(env.path)
    out["MLENV_ARTIFACTS"] = str(env.artifacts)
    return out
