"""Detection of the host target: archspec microarchitecture, libc, interpreter, NVIDIA CUDA.

The machine's facts come from py-rattler's virtual-package detection (`__glibc`, `__cuda` from
the driver library, `__archspec`), so no subprocess runs. Every input is a parameter: the CLI
passes its environment once. `CONDA_OVERRIDE_CUDA` / `_GLIBC` / `_ARCHSPEC` are honoured as conda
and pixi do (an empty `CONDA_OVERRIDE_CUDA` means no CUDA); the `MLENV_HOST_*` variables
override single facts on top of them (useful where detection is impossible, and in tests).
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import UsageError
from .names import check_component
from .target import Accelerator, Target

_MANYLINUX_MINORS = (17, 28, *range(31, 41))  # what `uv --python-platform` accepts
_WORD_RE = re.compile(r"[a-z0-9_]{1,64}")
_VERSION_RE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){0,3}")
_GLIBC_RE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){1,3}")  # major.minor: manylinux needs both
_PYTHON_RE = re.compile(r"[0-9]{1,2}\.[0-9]{1,3}")  # major.minor, as wheel tags name it
# the MLENV_HOST_* overrides: the grammar each must follow, and an example for the hint
_OVERRIDES = {
    "MLENV_HOST_OS": (_WORD_RE, "linux"),
    "MLENV_HOST_ARCH": (_WORD_RE, "x86_64"),
    "MLENV_HOST_MICROARCH": (_WORD_RE, "x86_64_v3"),
    "MLENV_HOST_GLIBC": (_GLIBC_RE, "2.28"),
    "MLENV_HOST_CUDA": (_VERSION_RE, "12.4' or 'none"),
    "MLENV_HOST_PYTHON": (_PYTHON_RE, "3.11"),
    # conda's own overrides, passed to rattler's detection (empty CUDA: no CUDA)
    "CONDA_OVERRIDE_CUDA": (_VERSION_RE, "12.4"),
    "CONDA_OVERRIDE_GLIBC": (_GLIBC_RE, "2.28"),
    "CONDA_OVERRIDE_ARCHSPEC": (_WORD_RE, "x86_64_v3"),
}
_CONDA_OVERRIDES = {"cuda": "CONDA_OVERRIDE_CUDA", "libc": "CONDA_OVERRIDE_GLIBC"}
_CONDA_OVERRIDES["archspec"] = "CONDA_OVERRIDE_ARCHSPEC"


def _override(env: Mapping[str, str], name: str) -> str | None:
    """`env[name]` when set and well-formed (they end up in target names and paths)."""
    value = env.get(name)
    if value is None or value == "" or (name.endswith("_CUDA") and value == "none"):
        return value
    pattern, example = _OVERRIDES[name]
    if not pattern.fullmatch(value):
        kind = "a lowercase word" if pattern is _WORD_RE else "a version (digits and dots)"
        raise UsageError(
            f"invalid value {value!r} in {name}",
            where=name,
            why=f"{name} must be {kind}",
            hint=f"set it like {name}='{example}', or unset it to detect this machine",
        )
    return value


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "arm64" if sys.platform == "darwin" else "aarch64"}.get(
        machine, machine
    )


def _archspec_host() -> str | None:
    try:
        import archspec.cpu

        return str(archspec.cpu.host().name)
    except Exception:  # archspec cannot read every CPU; the fact is then absent
        return None


def _confstr_glibc() -> str | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    if value and value.startswith("glibc "):
        return value.split()[1]
    return None


def _musl() -> bool:
    return any(Path("/lib").glob("ld-musl-*.so.1"))


def rattler_facts(env: Mapping[str, str]) -> dict[str, str]:
    """This machine's `__glibc`, `__cuda` and `__archspec` as rattler detects them, with the
    `CONDA_OVERRIDE_*` values of `env` applied: keys `glibc`, `cuda`, `microarch` (absent when
    not detected). Falls back to confstr/archspec when rattler cannot detect."""
    overrides = {k: _override(env, v) for k, v in _CONDA_OVERRIDES.items()}
    try:
        import rattler
        from rattler.virtual_package import Override

        given = {k: Override.string(v) for k, v in overrides.items() if v is not None}
        detected = rattler.VirtualPackage.detect(rattler.VirtualPackageOverrides(**given))
        packages = [p.into_generic() for p in detected]
    except Exception:  # detection failed (unknown platform, unreadable files): the fallback
        out = {"glibc": overrides["libc"] or _confstr_glibc() or ""}
        out["microarch"] = overrides["archspec"] or _archspec_host() or ""
        return {k: v for k, v in out.items() if v}
    found = {p.name.normalized: (str(p.version), str(p.build_string)) for p in packages}
    out = {}
    if "__glibc" in found:
        out["glibc"] = found["__glibc"][0]
    if "__cuda" in found and found["__cuda"][0] not in ("", "none"):
        out["cuda"] = found["__cuda"][0]
    if "__archspec" in found and found["__archspec"][1] not in ("", "0"):
        out["microarch"] = found["__archspec"][1]
    return out


def pypi_platform_for(os_name: str, arch: str, glibc: str | None, musl: bool = False) -> str | None:
    if os_name == "darwin":
        return f"{'aarch64' if arch in ('arm64', 'aarch64') else 'x86_64'}-apple-darwin"
    if os_name == "windows":
        return f"{arch}-pc-windows-msvc"
    if os_name == "linux" and glibc:
        minor = int(glibc.split(".")[1])
        usable = [m for m in _MANYLINUX_MINORS if m <= minor]
        return f"{arch}-manylinux_2_{usable[-1]}" if usable else None  # older than 2.17
    if os_name == "linux" and musl:
        return f"{arch}-unknown-linux-musl"
    return None  # unknown libc: wheels cannot be chosen safely; the target file must say


def conda_platform_for(os_name: str, arch: str) -> str | None:
    table = {
        ("linux", "x86_64"): "linux-64",
        ("linux", "aarch64"): "linux-aarch64",
        ("darwin", "arm64"): "osx-arm64",
        ("darwin", "x86_64"): "osx-64",
        ("windows", "x86_64"): "win-64",
    }
    return table.get((os_name, arch))


def host_name(os_name: str, arch: str, accelerator: Accelerator) -> str:
    if accelerator.kind == "cuda" and accelerator.cuda:
        return f"{os_name}-{arch}-cuda{accelerator.cuda.split('.')[0]}"
    if accelerator.kind != "none":
        return f"{os_name}-{arch}-{accelerator.kind}"
    return f"{os_name}-{arch}-cpu"


HOST_SUFFIX = "-host"


def distinct_host(
    host: Target, same_named: Target | None, locked: Mapping[str, Any] | None = None
) -> Target:
    """The host, renamed `<name>-host` where a target file of its name (`same_named`) carries
    other facts, so the two never share a lock section: `linux-x86_64-cpu` stays the file's.
    It keeps its plain name where the facts agree, or where `locked` (the facts of a lock
    section of that name, written before the rename) are this machine's: such locks go on
    working."""
    if same_named is None or same_named.facts() == host.facts():
        return host
    if locked is not None and dict(locked) == host.facts():
        return host
    name = host.name + HOST_SUFFIX
    check_component(name, "the host's target name (from its os, arch and accelerator)")
    return replace(host, name=name)


def _cuda(env: Mapping[str, str], detected: Mapping[str, str]) -> str | None:
    cuda = _override(env, "MLENV_HOST_CUDA")
    if cuda is None:
        return detected.get("cuda")
    return None if cuda in ("", "none") else cuda


def detect_host(env: Mapping[str, str]) -> Target:
    """The machine this process runs on, as a target named after its facts (`Project.host`
    then keeps that name distinct from a target file's: `distinct_host`)."""
    os_name = _override(env, "MLENV_HOST_OS") or {"win32": "windows"}.get(
        sys.platform, sys.platform
    )
    if os_name.startswith("linux"):
        os_name = "linux"
    detected = rattler_facts(env)
    arch = _override(env, "MLENV_HOST_ARCH") or _arch()
    if arch != _arch():  # another architecture: this CPU's microarch says nothing of it
        detected.pop("microarch", None)
    glibc = _override(env, "MLENV_HOST_GLIBC") or (
        detected.get("glibc") if os_name == "linux" else None
    )
    cuda = _cuda(env, detected)
    accelerator = Accelerator(kind="cuda", cuda=cuda) if cuda else Accelerator()
    python = _override(env, "MLENV_HOST_PYTHON") or f"{sys.version_info[0]}.{sys.version_info[1]}"
    name = host_name(os_name, arch, accelerator)
    check_component(name, "the host's target name (from its os, arch and accelerator)")
    return Target(
        name=name,
        os=os_name,
        arch=arch,
        python=python,
        microarch=_override(env, "MLENV_HOST_MICROARCH") or detected.get("microarch"),
        libc=(("glibc", glibc),) if glibc else (),
        accelerator=accelerator,
        pypi_platform=pypi_platform_for(
            os_name, arch, glibc, musl=os_name == "linux" and not glibc and _musl()
        ),
        conda_platform=conda_platform_for(os_name, arch),
        is_host=True,
    )
