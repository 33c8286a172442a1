"""The PyPI closure of a target, pinned by `uv pip compile` (one file per package, sha256)."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging import tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mlenv.errors import ResolutionError
from mlenv.lock import PypiPin
from mlenv.pylockio import preferences_toml
from mlenv.target import Target
from mlenv.uvenv import NO_CONFIG, PypiOptions, uv_environ

_LEGACY_MANYLINUX = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}


@dataclass(frozen=True, kw_only=True)
class UvOptions:
    uv: str
    cache_dir: Path | None = None
    offline: bool = False
    pypi: PypiOptions = field(default_factory=PypiOptions)  # the manifest's `pypi-options:`
    index_url: str | None = None  # wins over `pypi.index_url` (a caller's explicit index)
    find_links: tuple[str, ...] = ()
    # the caller's environment, passed in from the CLI edge; uv sees only its allow-listed part
    environ: Mapping[str, str] | None = None
    log: Callable[[str], None] | None = field(default=None, compare=False)  # -v: each command


def platform_tags(target: Target) -> list[str]:
    """Wheel platform tags the target accepts, most specific first."""
    plat = target.pypi_platform or ""
    arch = target.arch if target.arch != "arm64" else "aarch64"
    if "manylinux" in plat or plat.endswith("linux-gnu"):
        minor = 28  # uv reads `*-unknown-linux-gnu` as manylinux_2_28
        if "manylinux_2_" in plat:
            minor = int(plat.rsplit("_", 1)[1])
        elif "manylinux2014" in plat:
            minor = 17
        out = []
        for m in range(minor, 4, -1):
            out.append(f"manylinux_2_{m}_{arch}")
            out.extend(f"{legacy}_{arch}" for legacy, lm in _LEGACY_MANYLINUX.items() if lm == m)
        return out
    if plat.endswith("apple-darwin"):
        mac_arch = "arm64" if arch == "aarch64" else "x86_64"
        return list(tags.mac_platforms((13, 0), mac_arch))  # uv's default deployment target
    if plat.endswith("windows-msvc"):
        return ["win_amd64"] if arch == "x86_64" else [f"win_{arch}"]
    return []


def target_tags(target: Target) -> dict[tags.Tag, int]:
    """Every tag the target's interpreter accepts, mapped to its priority (lower is better)."""
    major, minor = (int(x) for x in target.python.split(".")[:2])
    platforms = platform_tags(target)
    ordered = [
        *tags.cpython_tags((major, minor), platforms=platforms),
        *tags.compatible_tags((major, minor), interpreter=f"cp{major}{minor}", platforms=platforms),
    ]
    return {t: i for i, t in enumerate(ordered)}


def choose_file(package: dict[str, Any], priorities: dict[tags.Tag, int]) -> dict[str, Any] | None:
    """The best wheel for the target, else the sdist."""
    best: tuple[int, dict[str, Any]] | None = None
    for wheel in package.get("wheels", []):
        filename = wheel.get("name") or wheel["url"].rsplit("/", 1)[-1]
        try:
            _, _, _, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        rank = min((priorities[t] for t in wheel_tags if t in priorities), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, wheel)
    if best is not None:
        return best[1]
    sdist = package.get("sdist")
    return sdist if isinstance(sdist, dict) else None


def preferences_file(pins: Sequence[PypiPin]) -> str:
    """A pylock.toml of earlier pins (valid PEP 751): uv prefers the versions of an existing
    output file, so a re-resolve changes as little as it can."""
    return preferences_toml(pins)


def compile_pypi(
    requirements: Sequence[str],
    target: Target,
    options: UvOptions,
    *,
    no_deps: bool = False,
    prefer: Sequence[PypiPin] = (),
) -> list[PypiPin]:
    """Pin `requirements` and their closure for `target` with uv; one file per package.

    `prefer` keeps earlier pins wherever they still satisfy (minimal change on re-resolve).
    """
    if not requirements:
        return []
    if not target.pypi_platform:
        raise ResolutionError(
            f"target {target.name} has no pypi-platform, so its PyPI packages cannot be locked",
            hint="add `pypi-platform:` (a `uv --python-platform` value) to the target file",
        )
    with tempfile.TemporaryDirectory(prefix="mlenv-uv-") as tmp:
        req_file = Path(tmp, "requirements.in")
        req_file.write_text("\n".join(sorted(set(requirements))) + "\n", encoding="utf-8")
        out = Path(tmp, "pylock.toml")
        if prefer:
            out.write_text(preferences_file(prefer), encoding="utf-8")
        cmd = [
            options.uv,
            "pip",
            "compile",
            str(req_file),
            "--format",
            "pylock.toml",
            "-o",
            str(out),
            "--python-platform",
            target.pypi_platform,
            "--python-version",
            target.python,
            "--no-header",
            "--quiet",
            "--color",
            "never",
            NO_CONFIG,
        ]
        if no_deps:
            cmd.append("--no-deps")
        cmd += uv_source_flags(options)
        if options.log is not None:
            options.log(shlex.join(cmd))
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
                env=uv_environ(os.environ if options.environ is None else options.environ),
            )
        except OSError as e:
            raise ResolutionError(
                f"cannot run uv ({options.uv}): {e}", hint="reinstall mlenv"
            ) from e
        if proc.returncode != 0:
            raise ResolutionError(
                f"uv could not lock the PyPI packages for target {target.name}",
                why=_tail(proc.stderr),
                where="requirements: " + ", ".join(sorted(set(requirements))),
                hint=(
                    "check the package names and versions in the recipes' `pypi:` sources"
                    + ("; --offline needs the packages in uv's cache" if options.offline else "")
                ),
            )
        data = tomllib.loads(out.read_text(encoding="utf-8"))
    priorities = target_tags(target)
    pins = []
    for package in data.get("packages", []):
        chosen = choose_file(package, priorities)
        if chosen is None or "sha256" not in chosen.get("hashes", {}):
            raise ResolutionError(
                f"no file of {package['name']} {package.get('version')} fits target {target.name}",
                hint="choose another version, or a target this package publishes wheels for",
            )
        pins.append(
            PypiPin(
                name=package["name"],
                version=str(package["version"]),
                url=chosen["url"],
                sha256=chosen["hashes"]["sha256"],
                size=chosen.get("size"),
            )
        )
    return sorted(pins, key=lambda p: p.name)


def uv_source_flags(options: UvOptions) -> list[str]:
    """Where uv finds packages: its cache, --offline, the indexes and --find-links."""
    flags = ["--cache-dir", str(options.cache_dir)] if options.cache_dir else []
    flags += ["--offline"] if options.offline else []
    flags += uv_index_flags(options)
    for link in options.find_links:
        flags += ["--find-links", link]
    return flags


def uv_index_flags(options: UvOptions) -> list[str]:
    """--index-url/--extra-index-url/--exclude-newer from the manifest (an explicit
    `options.index_url` wins), else MLENV_PYPI_INDEX_URL; never from uv's own configuration."""
    pypi = options.pypi
    if options.index_url:
        pypi = dataclasses.replace(pypi, index_url=options.index_url)
    return pypi.flags(os.environ if options.environ is None else options.environ)


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
