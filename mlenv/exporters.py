"""Other tools' formats written from one lock section (`mlenv export`): pure text writers.

- `requirements`: pip's format, one `name==version --hash=sha256:…` per pinned file
  (installable with `pip install --require-hashes --no-deps -r FILE`);
- `pylock`: `pylock.toml` (PEP 751), one package per pin with its one file;
- `conda-explicit`: an `@EXPLICIT` file (CEP 23): one URL per package with `#sha256:…`;
- `dockerfile`: an image that installs mlenv (from a wheel in the build context, when given),
  then `mlenv install --frozen` and `mlenv run --frozen` for the section's target.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from .errors import MlenvError, UsageError
from .lock import LockTarget
from .pylockio import build_pylock, package_entry, pylock_text

FORMATS = ("requirements", "pylock", "conda-explicit", "dockerfile")
DEFAULT_FILES = {
    "requirements": "requirements.txt",
    "pylock": "pylock.toml",
    "conda-explicit": "conda-explicit.txt",
    "dockerfile": "Dockerfile",
}
PYPI_FILES = "https://files.pythonhosted.org/"
PYPI_SIMPLE = "https://pypi.org/simple"
_SYS_PLATFORM = {"linux": "linux", "darwin": "darwin", "windows": "win32"}
_MACHINE = {("windows", "x86_64"): "AMD64", ("windows", "arm64"): "ARM64"}
_DOCKER_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}


class ExportError(MlenvError):
    """A lock section that cannot be written safely in another tool's format."""

    kind = "export"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x80-\x9f\u2028\u2029]")


def _unsafe_values(value: Any, at: str) -> list[str]:
    """Dotted paths of strings below `value` holding a line break or a control character."""
    if isinstance(value, str):
        return [at] if _UNSAFE.search(value) else []
    if isinstance(value, dict):
        found = [f"{at}.{k}" for k in value if isinstance(k, str) and _UNSAFE.search(k)]
        for k, v in value.items():
            found += _unsafe_values(v, f"{at}.{k}")
        return found
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _unsafe_values(v, f"{at}[{i}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            p
            for f in dataclasses.fields(value)
            for p in _unsafe_values(getattr(value, f.name), f"{at}.{f.name}")
        ]
    return []


def check_safe(section: LockTarget) -> None:
    """Refuse a section with a line break or control character in any field: a writer puts
    the values into line-based formats (defence in depth; a loaded lock never has them)."""
    found = _unsafe_values(section.name, "name")
    for key in ("facts", "packages", "pypi", "conda", "artifacts", "system"):
        found += _unsafe_values(getattr(section, key), key)
    if found:
        raise ExportError(
            f"refusing to export target {section.name!r}: a field holds a line break "
            "or a control character",
            where=", ".join(f"targets.{section.name}.{p}" for p in found[:5]),
            why="the value would add lines of its own to the exported file",
            hint="re-create the lock with `mlenv resolve`",
        )


@dataclass(frozen=True, kw_only=True)
class ExportContext:
    """What a writer may need besides the lock section (all optional for most formats)."""

    lock_file: str = "mlenv.lock"  # the lock's name beside the manifest
    manifest_file: str = "mlenv.yaml"
    recipe_folders: tuple[str, ...] = ()  # the manifest's `recipes:` (relative folders)
    mlenv_spec: str = "mlenv"  # what `pip install` installs in the Dockerfile
    mlenv_wheel: str | None = None  # a wheel of mlenv in the build context, installed instead
    base_dir: Path | None = None  # resolves `./…` conda URLs to file:// URLs
    generator: str = "mlenv"


def _header(section: LockTarget, what: str) -> list[str]:
    facts = section.facts
    return [
        f"# {what} for target {section.name}, written by `mlenv export` from the lock.",
        f"# lock section {section.digest()}",
        f"# os {facts.get('os')}, arch {facts.get('arch')}, python {facts.get('python')}, "
        f"accelerator {facts.get('accelerator')}",
    ]


def requirements_txt(section: LockTarget, ctx: ExportContext | None = None) -> str:
    check_safe(section)
    if not section.runtime_pypi:
        raise UsageError(
            f"the lock's target {section.name} pins no PyPI packages",
            hint="nothing to write as requirements; try `--format conda-explicit`",
        )
    lines = [*_header(section, "pip requirements (install with --require-hashes --no-deps)")]
    for pin in sorted(section.runtime_pypi, key=lambda p: canonicalize_name(p.name)):
        lines.append(f"{canonicalize_name(pin.name)}=={pin.version} \\")
        lines.append(f"    --hash=sha256:{pin.sha256}")
    return "\n".join(lines) + "\n"


# -- pylock.toml ---------------------------------------------------------------------------------


def environment_marker(section: LockTarget) -> str | None:
    """The PEP 508 marker of the section's platform (None when its os is unknown)."""
    os_name, arch = str(section.facts.get("os", "")), str(section.facts.get("arch", ""))
    platform = _SYS_PLATFORM.get(os_name)
    if platform is None or not arch:
        return None
    machine = _MACHINE.get((os_name, arch), arch)
    return f"sys_platform == '{platform}' and platform_machine == '{machine}'"


def pylock_toml(section: LockTarget, ctx: ExportContext | None = None) -> str:
    """PEP 751, built and validated with `packaging.pylock` (mlenv.pylockio)."""
    check_safe(section)
    ctx = ctx or ExportContext()
    python = str(section.facts.get("python", ""))
    marker = environment_marker(section)
    packages = [
        package_entry(pin, PYPI_SIMPLE if pin.url.startswith(PYPI_FILES) else None)
        for pin in sorted(section.runtime_pypi, key=lambda p: canonicalize_name(p.name))
    ]
    artifacts = [
        {
            "package": a.package,
            "name": a.name,
            "url": a.url,
            "sha256": a.sha256,
            "md5": a.md5,
            "member": a.member,
            "member-sha256": a.member_sha256,
            "local-env": a.local_env,
            "tree-sha256": a.tree_sha256,
        }
        for a in sorted(section.artifacts, key=lambda a: (a.package, a.name))
    ]
    mlenv_tool: dict[str, Any] = {"target": section.name, "lock-section": section.digest()}
    if artifacts:
        mlenv_tool["artifacts"] = [{k: v for k, v in a.items() if v is not None} for a in artifacts]
    data: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [marker] if marker else None,
        "requires-python": f"=={python}.*" if python else None,
        "created-by": ctx.generator,
        "packages": packages,
        "tool": {"mlenv": mlenv_tool},
    }
    data = {k: v for k, v in data.items() if v is not None}
    pylock = build_pylock(data, what=f"pylock.toml for target {section.name}")
    return pylock_text(pylock, _header(section, "PEP 751 lock file"))


# -- conda @EXPLICIT -----------------------------------------------------------------------------


def conda_explicit(section: LockTarget, ctx: ExportContext | None = None) -> str:
    check_safe(section)
    ctx = ctx or ExportContext()
    if not section.conda:
        raise UsageError(
            f"the lock's target {section.name} pins no conda packages",
            hint="nothing to write as @EXPLICIT; try `--format requirements` or `pylock`",
        )
    subdirs = sorted({c.subdir for c in section.conda} - {"noarch"})
    platform = subdirs[0] if subdirs else section.facts.get("conda-platform", "noarch")
    lines = [*_header(section, "conda explicit environment"), f"# platform: {platform}"]
    lines.append("@EXPLICIT")
    for pin in sorted(section.conda, key=lambda c: (c.name, c.version, c.build)):
        url = pin.url.split("#", 1)[0]
        if url.startswith(("./", "../")) and ctx.base_dir is not None:
            url = (ctx.base_dir / url).resolve().as_uri()
        lines.append(f"{url}#sha256:{pin.sha256}")
    return "\n".join(lines) + "\n"


# -- Dockerfile ----------------------------------------------------------------------------------


def _shell_word(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./:=@+-]+", value) else f'"{value}"'


def dockerfile(section: LockTarget, ctx: ExportContext | None = None) -> str:
    check_safe(section)
    ctx = ctx or ExportContext()
    facts = section.facts
    if facts.get("os") != "linux":
        raise UsageError(
            f"target {section.name} is for {facts.get('os')}: container images run linux targets",
            hint="export a linux target with --target",
        )
    python = str(facts.get("python") or "3.11")
    platform = _DOCKER_PLATFORM.get(str(facts.get("arch")), "linux/amd64")
    target = _shell_word(section.name)
    copies = [f"COPY {ctx.manifest_file} ./mlenv.yaml", f"COPY {ctx.lock_file} ./mlenv.lock"]
    for folder in ctx.recipe_folders:
        rel = folder.strip("/").removeprefix("./") or "."
        copies.append(f"COPY {rel}/ ./{rel}/")
    lines = [
        "# syntax=docker/dockerfile:1",
        *_header(section, "container image"),
        f"# build: docker build -t {section.name} .   run: docker run --rm {section.name}",
    ]
    if facts.get("accelerator") not in (None, "none"):
        lines.append(
            f"# the target has a {facts.get('accelerator')} accelerator: run with --gpus all "
            "(the NVIDIA container toolkit provides the driver)"
        )
    spec = ctx.mlenv_spec
    wheel: list[str] = []
    if ctx.mlenv_wheel is not None:  # mlenv from the context, not from an index
        spec = f"/tmp/mlenv-wheel/{PurePosixPath(ctx.mlenv_wheel).name}"
        wheel = [f"COPY {_shell_word(ctx.mlenv_wheel)} {_shell_word(spec)}"]
    lines += [
        f"FROM --platform={platform} python:{python}-slim",
        *wheel,
        "# --build-arg MLENV_SPEC=… installs mlenv from elsewhere (a wheel, git+https://…)",
        "ARG MLENV_SPEC=" + _shell_word(spec),
        "ENV MLENV_HOME=/opt/mlenv PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        'RUN pip install "${MLENV_SPEC}"',
        "WORKDIR /work",
        *copies,
        f"RUN mlenv install --frozen --target {target}",
        f'CMD ["mlenv", "run", "--frozen", "--target", "{section.name}"]',
    ]
    return "\n".join(lines) + "\n"


WRITERS = {
    "requirements": requirements_txt,
    "pylock": pylock_toml,
    "conda-explicit": conda_explicit,
    "dockerfile": dockerfile,
}


def export(fmt: str, section: LockTarget, ctx: ExportContext | None = None) -> str:
    writer = WRITERS.get(fmt)
    if writer is None:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    check_safe(section)
    return writer(section, ctx)
