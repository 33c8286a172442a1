"""System tools: run a recipe's declared executable with declared arguments, parse the version
with its declared regex. Recipes run no code; this is the only place a tool is executed.

What is run always comes from a recipe of the user's own index (a `detect:` source, checked by
`mlenv.sources.detect_problems`), never from a lock or a bundle: a lock's `system:` pin names
its recipe (`package`), and re-detection looks that recipe up (see `detect_declarations`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from mlenv.errors import FormatError
from mlenv.lock import SystemPin
from mlenv.sources import DetectSource, detect_problems

if TYPE_CHECKING:
    from mlenv.index import RecipeIndex

Detects = Mapping[str, Sequence[DetectSource]]  # recipe name -> its `detect:` sources


def detect(source: DetectSource, path: str | None = None) -> list[str]:
    """Every distinct version the source's executables report on this host, newest first."""
    problems = detect_problems(source)
    if problems:  # recipes are checked at load; this guards every other way in
        raise FormatError(
            "refusing to run a detect: source that breaks the rules",
            where=f"detect.{problems[0][0]}",
            why=problems[0][1],
            hint="detect: runs a bare program name with plain version flags",
        )
    found: list[str] = []
    pattern = re.compile(source.regex)
    for name in source.executables:
        exe = shutil.which(name, path=path)
        if exe is None:
            continue
        try:
            proc = subprocess.run(
                [exe, *source.args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        m = pattern.search(proc.stdout + "\n" + proc.stderr)
        if m:
            version = m.group(1) if m.groups() else m.group(0)
            if version not in found:
                found.append(version)
    return found


def detect_declarations(index: RecipeIndex, names: Iterable[str] | None = None) -> Detects:
    """recipe name -> its `detect:` sources, for the named recipes of the index that have one
    (default: every recipe of the index with a `detect:` source)."""
    wanted = set(index.with_source("detect"))
    if names is not None:
        wanted &= set(names)
    out: dict[str, tuple[DetectSource, ...]] = {}
    for name in sorted(wanted):
        located = index.get(name)
        if located is None:
            continue
        sources = tuple(
            e.source for e in located.recipe.install if isinstance(e.source, DetectSource)
        )
        if sources:
            out[name] = sources
    return out


def detect_tools(
    index: RecipeIndex, environ: Mapping[str, str], names: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """recipe name -> versions found on this host, for the named recipes with a `detect:`
    source (default: all of them; `mlenv resolve` passes the recipes its solve can visit)."""
    out: dict[str, list[str]] = {}
    path = environ.get("PATH")
    for name, sources in detect_declarations(index, names).items():
        for source in sources:
            versions = detect(source, path)
            out.setdefault(name, [])
            out[name] += [v for v in versions if v not in out[name]]
    return out


def system_drift(pins: Sequence[SystemPin], path: str | None, detects: Detects) -> list[str]:
    """Locked system tools whose version this machine no longer has, re-detected with the
    `detect:` sources of the user's own recipes (`detects`, by recipe name). The lock's own
    `executables`/`args`/`regex` (older locks carry them) are never run."""
    out = []
    for pin in pins:
        sources = detects.get(pin.package, ())
        if not sources:
            out.append(
                f"cannot re-detect system tool {pin.name}: recipe {pin.package} is not in your "
                "recipe index (with a detect: source)"
            )
            continue
        found: list[str] = []
        for source in sources:
            found += [v for v in detect(source, path) if v not in found]
        if pin.version not in found:
            have = ", ".join(found) if found else "none"
            out.append(f"system {pin.name}: the lock pins {pin.version}, this machine has {have}")
    return out
