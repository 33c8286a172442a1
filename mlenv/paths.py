"""Where things live: the built-in recipes, MLENV_HOME and the per-project folders."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .names import check_component, within

BUILTIN_PREFIX = "builtin:"


def builtin_recipes_dir() -> Path:
    """The `recipes/` folder shipped as package data of `mlenv.recipes`."""
    import importlib.util

    spec = importlib.util.find_spec("mlenv.recipes")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location, "targets").is_dir():
                return Path(location)
    return Path(__file__).resolve().parent.parent / "recipes"


def mlenv_home(env: Mapping[str, str]) -> Path:
    if env.get("MLENV_HOME"):
        return Path(env["MLENV_HOME"]).expanduser().absolute()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlenv"


def project_env_dir(project: Path, target: str) -> Path:
    """`<project>/.mlenv/envs/<target>`, refused unless `target` is one safe name that stays
    inside the project's envs folder (links included)."""
    check_component(target, "target")
    return within(project / ".mlenv" / "envs", target, what="environment folder")
