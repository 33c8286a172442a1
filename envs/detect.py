"""System tools: run a recipe's declared executable with declared arguments, parse the version
with its declared regex. Recipes run no code; this is the only place a tool is executed."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mlenv.lock import SystemPin
from mlenv.sources import DetectSource

if TYPE_CHECKING:
    from mlenv.index import RecipeIndex


def detect(source: DetectSource, path: str | None = None) -> list[str]:
    """Every distinct version the source's executables report on this host, newest first."""
    found: list[str] = []
    pattern = re.compile(source.regex)
    for name in source.executables:
        exe = shutil.which(name, path=path)
        if exe is None:
            continue
        try:
            proc = subprocess.run(
                [exe, *source.args], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.SubprocessError):
            continue
        m = pattern.search(proc.stdout + "\n" + proc.stderr)
        if m:
            version = m.group(1) if m.groups() else m.group(0)
            if version not in found:
                found.append(version)
    return found


def detect_tools(index: RecipeIndex, environ: Mapping[str, str]) -> dict[str, list[str]]:
    """recipe name -> versions found on this host, for every recipe with a `detect:` source."""
    out: dict[str, list[str]] = {}
    path = environ.get("PATH")
    for name in index.with_source("detect"):
        for entry in index.recipes[name].recipe.install:
            if isinstance(entry.source, DetectSource):
                versions = detect(entry.source, path)
                out.setdefault(name, [])
                out[name] += [v for v in versions if v not in out[name]]
    return out


def system_drift(pins: Sequence[SystemPin], path: str | None) -> list[str]:
    """Locked system tools whose version this machine no longer has."""
    out = []
    for pin in pins:
        if not pin.executables or not pin.regex:
            continue
        source = DetectSource(executables=pin.executables, args=pin.args, regex=pin.regex)
        found = detect(source, path)
        if pin.version not in found:
            have = ", ".join(found) if found else "none"
            out.append(f"system {pin.name}: the lock pins {pin.version}, this machine has {have}")
    return out
