"""The Python layer: a relocatable venv made by uv from the lock's pins only, hash-checked.

Wheels come from the store (downloaded and verified there first) through a wheelhouse of hard
links, so uv never reaches an index: `--no-index --require-hashes`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlenv.errors import InstallError
from mlenv.lock import PypiPin
from mlenv.reporter import Reporter
from mlenv.uvenv import NO_CONFIG, uv_environ

from .download import FetchOptions, fetch_to_store
from .store import Store


@dataclass(frozen=True, kw_only=True)
class UvRunner:
    uv: str
    cache_dir: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict)  # passed in from the CLI edge
    offline: bool = False  # --offline: uv never reaches the network either
    log: Callable[[str], None] | None = field(default=None, compare=False)  # -v: each command

    def run(self, args: Sequence[str], what: str) -> None:
        cmd = [self.uv, *args, "--color", "never", NO_CONFIG]
        if self.offline:
            cmd.append("--offline")
        if self.cache_dir:
            cmd += ["--cache-dir", str(self.cache_dir)]
        if self.log is not None:
            self.log(shlex.join(cmd))
        env = uv_environ(self.environ)  # allow-listed: no UV_*, VIRTUAL_ENV or CONDA_PREFIX
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        except OSError as e:
            raise InstallError(f"cannot run uv ({self.uv}): {e}", hint="reinstall mlenv") from e
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise InstallError(f"uv failed to {what}", why=tail, hint="see uv's message above")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def fetch_wheels(
    pins: Sequence[PypiPin], store: Store, options: FetchOptions, reporter: Reporter
) -> dict[str, Path]:
    """Every pinned file in the store; returns sha256 -> store path."""
    return {
        p.sha256: fetch_to_store(
            store,
            p.url,
            sha256=p.sha256,
            label=p.filename,
            options=options,
            reporter=reporter,
            size=p.size,
        )[0]
        for p in pins
    }


def build_venv(
    pins: Sequence[PypiPin],
    venv: Path,
    *,
    python: str,
    store: Store,
    uv: UvRunner,
    options: FetchOptions,
    reporter: Reporter,
    scratch: Path,
) -> None:
    fetch_wheels(pins, store, options, reporter)
    # each wheel under its name at a path that never changes (store/wheels/<sha256>/): uv keys
    # its cache of unpacked wheels by path, so a wheelhouse per build unpacked them every time
    houses = sorted({str(store.wheel_link(p.sha256, p.filename).parent) for p in pins})
    # build pins (`build-for`) are there for uv's isolated build of an sdist pin, not the env
    build, pins = [p for p in pins if p.build_for], [p for p in pins if not p.build_for]
    reporter.info(f"creating the Python environment ({len(pins)} packages)")
    uv.run(["venv", "--relocatable", "--quiet", "--python", python, str(venv)], "create the venv")
    if not pins:
        return
    scratch.mkdir(parents=True, exist_ok=True)
    requirements = scratch / "requirements.txt"
    requirements.write_text(_hashed(pins), encoding="utf-8")
    constraints = scratch / "build-constraints.txt"
    constraints.write_text(_hashed(build), encoding="utf-8")
    uv.run(
        [
            "pip",
            "sync",
            str(requirements),
            "--python",
            str(venv_python(venv)),
            "--no-index",
            *(arg for house in houses for arg in ("--find-links", house)),
            "--require-hashes",
            *(["--build-constraints", str(constraints)] if build else []),
            "--quiet",
        ],
        "install the locked PyPI packages",
    )


def _hashed(pins: Sequence[PypiPin]) -> str:
    return "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in pins)
