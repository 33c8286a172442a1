"""The build requirements of sdist pins, locked so that an offline install can build them.

A pin whose only file for the target is an sdist (e.g. `mlcommons-loadgen` on aarch64) is built
at install time in uv's isolated build environment. Its PEP 517 `[build-system].requires` is
read from the sdist's `pyproject.toml` (a bounded read of the archive; nothing in it is run),
compiled for the target with the same `uv pip compile` as the runtime pins, and locked as
extra pins with `build-for: [<sdist names>]`. The install fetches them into the store and
hands them to uv as `--find-links` and `--build-constraints`; they are never installed into
the env itself.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import tomllib
import urllib.request
import zipfile
from collections.abc import Sequence

from packaging.utils import canonicalize_name

from mlenv.errors import ResolutionError
from mlenv.lock import PypiPin
from mlenv.target import Target

from .pypi import UvOptions, compile_pypi

# PEP 517: a source tree without `[build-system]` builds with setuptools' legacy backend
DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
MAX_SDIST = 512 * 2**20  # bytes read of one sdist
MAX_PYPROJECT = 2**20  # bytes read of its pyproject.toml
MAX_ROUNDS = 4  # build requirements that are sdists themselves, and theirs, and so on
_SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def is_sdist(pin: PypiPin) -> bool:
    return pin.filename.lower().endswith(_SDIST_SUFFIXES)


def _bad_sdist(pin: PypiPin, why: str) -> ResolutionError:
    return ResolutionError(
        f"cannot read the build requirements of {pin.name} {pin.version}",
        where=pin.url,
        why=why,
        hint="pin a version that publishes a wheel for this target, or a well-formed sdist",
    )


def _top_level_pyproject(name: str) -> bool:
    parts = name.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "pyproject.toml" and parts[0] not in ("", ".", "..")


def pyproject_text(data: bytes, filename: str) -> bytes | None:
    """The bytes of `<top>/pyproject.toml` inside an sdist archive (None: there is none)."""
    if filename.lower().endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if _top_level_pyproject(info.filename) and not info.is_dir():
                    if info.file_size > MAX_PYPROJECT:
                        raise ValueError("its pyproject.toml is too large")
                    return zf.read(info)
        return None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        for member in tf:
            if _top_level_pyproject(member.name) and member.isfile():
                if member.size > MAX_PYPROJECT:
                    raise ValueError("its pyproject.toml is too large")
                handle = tf.extractfile(member)
                return handle.read(MAX_PYPROJECT) if handle is not None else None
    return None


def build_requires(data: bytes, filename: str) -> tuple[str, ...]:
    """`[build-system].requires` of an sdist, or PEP 517's default when it declares none."""
    text = pyproject_text(data, filename)
    if text is None:
        return DEFAULT_BUILD_REQUIRES
    system = tomllib.loads(text.decode("utf-8")).get("build-system")
    if not isinstance(system, dict) or "requires" not in system:
        return DEFAULT_BUILD_REQUIRES
    requires = system["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ValueError("[build-system].requires is not a list of strings")
    return tuple(requires)


def _download(pin: PypiPin, options: UvOptions) -> bytes:
    if options.offline:
        raise ResolutionError(
            f"{pin.name} {pin.version} is an sdist: its build requirements are read from the "
            "file, which --offline cannot download",
            where=pin.url,
            hint="resolve once online, or pin a version with a wheel for this target",
        )
    try:
        with urllib.request.urlopen(pin.url, timeout=120) as response:
            data = response.read(MAX_SDIST + 1)
    except (OSError, ValueError) as e:
        raise _bad_sdist(pin, f"download failed: {e}") from e
    if len(data) > MAX_SDIST:
        raise _bad_sdist(pin, f"the sdist is larger than {MAX_SDIST} bytes")
    return data


def sdist_requires(pin: PypiPin, options: UvOptions) -> tuple[str, ...]:
    data = _download(pin, options)
    try:
        return build_requires(data, pin.filename)
    except (OSError, ValueError, EOFError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise _bad_sdist(pin, str(e)) from e


def with_build_pins(pins: Sequence[PypiPin], target: Target, options: UvOptions) -> list[PypiPin]:
    """`pins` plus the locked build requirements of every sdist among them (and of sdists
    among those), each marked with the sdists it builds."""
    runtime = [p for p in pins if not p.build_for]
    builds: dict[tuple[str, str, str], PypiPin] = {}
    todo = [p for p in runtime if is_sdist(p)]
    seen: set[str] = set()
    for _ in range(MAX_ROUNDS):
        todo = [p for p in todo if p.sha256 not in seen]
        if not todo:
            break
        found = []
        for sdist in todo:
            seen.add(sdist.sha256)
            for pin in compile_pypi(sdist_requires(sdist, options), target, options):
                key = (canonicalize_name(pin.name), pin.version, pin.sha256)
                old = builds.get(key)
                users = {*(old.build_for if old else ()), canonicalize_name(sdist.name)}
                builds[key] = dataclasses.replace(pin, build_for=tuple(sorted(users)))
                if old is None and is_sdist(pin):
                    found.append(pin)
        todo = found
    return sorted([*runtime, *builds.values()], key=lambda p: (p.name, p.version))
