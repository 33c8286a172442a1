"""The dependency edges among a target's PyPI pins, for the lock's `requires:`.

uv's pylock output carries no `dependencies`, so the pinned set is compiled once more in
requirements format, constrained to exactly the pins (uv's cache is warm: no new download),
and its `# via` annotations are read back: `b==1  # via a` means a requires b.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from mlenv.errors import ResolutionError
from mlenv.lock import PypiPin
from mlenv.target import Target
from mlenv.uvenv import NO_CONFIG, uv_environ

from .pypi import UvOptions, uv_source_flags


def parse_via(text: str) -> dict[str, tuple[str, ...]]:
    """`uv pip compile --annotation-style line` output -> package -> the pins it requires."""
    requires: dict[str, set[str]] = {}
    for line in text.splitlines():
        pin, sep, via = line.partition("# via")
        name = pin.split("==", 1)[0].strip()
        if not sep or "==" not in pin or not name:
            continue
        for parent in via.split(","):
            parent = parent.strip()
            if parent and not parent.startswith("-"):  # `-r file`, `-c file`: the roots
                requires.setdefault(canonicalize_name(parent), set()).add(canonicalize_name(name))
    return {k: tuple(sorted(v)) for k, v in requires.items()}


def pypi_edges(
    requirements: Sequence[str], pins: Sequence[PypiPin], target: Target, options: UvOptions
) -> dict[str, tuple[str, ...]]:
    """Canonical name -> canonical names of the pins it requires (empty when < 2 pins)."""
    if len(pins) < 2 or not target.pypi_platform:
        return {}
    with tempfile.TemporaryDirectory(prefix="mlenv-uv-edges-") as tmp:
        req_file = Path(tmp, "requirements.in")
        req_file.write_text("\n".join(sorted(set(requirements))) + "\n", encoding="utf-8")
        constraints = Path(tmp, "constraints.txt")
        constraints.write_text("".join(f"{p.name}=={p.version}\n" for p in pins), encoding="utf-8")
        cmd = [options.uv, "pip", "compile", str(req_file), "-c", str(constraints)]
        cmd += ["--python-platform", target.pypi_platform, "--python-version", target.python]
        cmd += ["--annotation-style", "line", "--no-header", "--quiet", "--color", "never"]
        cmd.append(NO_CONFIG)
        cmd += uv_source_flags(options)
        environ = os.environ if options.environ is None else options.environ
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, check=False, timeout=900,
                env=uv_environ(environ),
            )  # fmt: skip
        except OSError as e:
            raise ResolutionError(
                f"cannot run uv ({options.uv}): {e}", hint="reinstall mlenv"
            ) from e
    if proc.returncode != 0:
        raise ResolutionError(
            f"uv could not list the dependencies of the PyPI pins of target {target.name}",
            why="\n".join(proc.stderr.strip().splitlines()[-12:]),
            hint="resolve again; if it persists, run with -v and report the uv command",
        )
    return parse_via(proc.stdout)
