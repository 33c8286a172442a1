"""The conda closure of a target, solved by py-rattler and pinned with sha256.

The solve sees the target's facts as conda virtual packages (`__linux`, `__glibc`, `__cuda`,
`__archspec`, …), never the machine's, so a lab can lock for its CUDA box on a laptop.
Channels given as paths are read relative to the project, and the pins of packages found there
are written as project-relative URLs (`./channel/linux-64/pkg-1.0-0.tar.bz2`): the lock holds
no host paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import rattler
from rattler import exceptions as rx

from mlenv.asyncrun import run_async
from mlenv.errors import ResolutionError
from mlenv.lock import CondaPin
from mlenv.sources import CondaSource
from mlenv.target import Target

# A target names no kernel or macOS version; these are pixi's default system requirements.
DEFAULT_LINUX = "4.18"
DEFAULT_OSX = "13.0"

RATTLER_ERRORS: tuple[type[Exception], ...] = (
    rx.GatewayError,
    rx.SolverError,
    rx.FetchRepoDataError,
    rx.InvalidChannelError,
    rx.InvalidMatchSpecError,
    rx.InvalidPackageNameError,
    rx.InvalidUrlError,
    rx.InvalidVersionError,
    rx.InvalidVersionSpecError,
    rx.ParseSubdirError,
    rx.CacheDirError,
    rx.IoError,
)


BAD_VALUE: tuple[type[Exception], ...] = (ValueError, *RATTLER_ERRORS)

_DEP_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
VirtualSpec = tuple[str, str, str]  # name, version, build string


def virtual_packages(target: Target) -> list[VirtualSpec]:
    """The conda virtual packages the target offers, from its facts alone."""
    out: list[VirtualSpec] = []
    if target.os == "linux":
        out += [("__unix", "0", "0"), ("__linux", DEFAULT_LINUX, "0")]
        if target.glibc:
            out.append(("__glibc", target.glibc, "0"))
    elif target.os == "darwin":
        out += [("__unix", "0", "0"), ("__osx", DEFAULT_OSX, "0")]
    elif target.os == "windows":
        out.append(("__win", "0", "0"))
    if target.accelerator.kind == "cuda" and target.accelerator.cuda:
        out.append(("__cuda", target.accelerator.cuda, "0"))
    out.append(("__archspec", "1", target.microarch or target.arch))
    return out


def _generic(specs: Sequence[VirtualSpec], target: Target) -> list[rattler.GenericVirtualPackage]:
    out = []
    for name, version, build in specs:
        try:
            out.append(
                rattler.GenericVirtualPackage(
                    rattler.PackageName(name), rattler.Version(version), rattler.BuildString(build)
                )
            )
        except BAD_VALUE as e:
            raise ResolutionError(
                f"target {target.name} does not make a valid conda virtual package {name}",
                why=f"{name} {version} {build}: {e}",
                hint="check the versions (libc, accelerator.cuda) and microarch in the target file",
            ) from e
    return out


def _is_path(channel: str) -> bool:
    return channel in (".", "..") or channel.startswith(("./", "../", "/", "~"))


def _is_relative_path(channel: str) -> bool:
    return channel in (".", "..") or channel.startswith(("./", "../"))


def _url_path(url: str) -> Path:
    return Path(url2pathname(unquote(urlparse(url).path)))


def merge_sources(sources: Sequence[CondaSource]) -> tuple[list[str], list[str]]:
    """The channels (first-seen order) and specs of all sources, each once."""
    channels = list(dict.fromkeys(c.rstrip("/") or c for s in sources for c in s.channels))
    specs = list(dict.fromkeys(spec.strip() for s in sources for spec in s.specs))
    return channels, specs


def channel_url(channel: str, project_dir: Path) -> str:
    """What rattler gets: a path becomes a file:// URL relative to the project; names and
    URLs pass unchanged."""
    if _is_path(channel):
        return (project_dir / Path(channel).expanduser()).resolve().as_uri()
    return channel


def lock_url(url: str, project_dir: Path, local_roots: Sequence[Path]) -> str:
    """The URL the lock records: project-relative for a package inside the project or inside
    a channel the recipe named by a relative path; http(s) and other file:// URLs unchanged."""
    if urlparse(url).scheme != "file":
        return url
    path = _url_path(url).resolve()
    root = project_dir.resolve()
    if path.is_relative_to(root) or any(path.is_relative_to(r) for r in local_roots):
        rel = Path(os.path.relpath(path, root)).as_posix()
        return rel if rel.startswith("../") else f"./{rel}"
    return url


def _key(name: str, version: str, build: str, subdir: str) -> tuple[str, str, str, str]:
    return (name, version, build, subdir)


def _record_key(r: rattler.RepoDataRecord) -> tuple[str, str, str, str]:
    return _key(r.name.normalized, str(r.version), str(r.build), r.subdir)


async def _solve(
    channels: list[str],
    specs: list[str],
    platforms: list[rattler.Subdir],
    virtual: list[rattler.GenericVirtualPackage],
    gateway: rattler.Gateway,
    prefer: Sequence[CondaPin],
) -> list[rattler.RepoDataRecord]:
    locked: list[rattler.RepoDataRecord] = []
    if prefer:
        # The earlier pins' records, found in the same repodata the solve reads; the solver
        # keeps each of them wherever it still satisfies the specs.
        wanted = {_key(p.name, p.version, p.build, p.subdir) for p in prefer}
        found = await gateway.query(
            channels,
            platforms,
            sorted({p.name for p in prefer}),
            recursive=False,
            channel_relations="disabled",
        )
        locked = [r for records in found for r in records if _record_key(r) in wanted]
    return await rattler.solve(
        channels,
        specs,
        gateway=gateway,
        platforms=platforms,
        locked_packages=locked,
        virtual_packages=virtual,
        channel_relations="disabled",
    )


def lock_conda(
    sources: Sequence[CondaSource],
    target: Target,
    *,
    cache_dir: Path,
    project_dir: Path,
    offline: bool = False,
    prefer: Sequence[CondaPin] = (),
) -> list[CondaPin]:
    """Solve the conda specs of `sources` for `target`; one pin (url, sha256) per package.

    `prefer` keeps earlier pins wherever they still satisfy (minimal change on re-resolve).
    `offline` reads repodata from `cache_dir` only.
    """
    channels, specs = merge_sources(sources)
    if not specs:
        return []
    where = f"channels: {', '.join(channels)}; specs: {', '.join(specs)}"
    if not target.conda_platform:
        raise ResolutionError(
            f"target {target.name} has no conda-platform, so its conda packages cannot be locked",
            where=where,
            hint="add `conda-platform:` (e.g. linux-64) to the target file",
        )
    if not channels:
        raise ResolutionError(
            "conda specs without a channel cannot be locked",
            where=where,
            hint="name at least one channel in the recipe's `conda: {channels: [...]}`",
        )
    offered = virtual_packages(target)
    virtual = _generic(offered, target)
    urls = [channel_url(c, project_dir) for c in channels]
    local_roots = [
        _url_path(u).resolve() for c, u in zip(channels, urls, strict=True) if _is_path(c)
    ]
    try:
        platforms = [rattler.Subdir(target.conda_platform), rattler.Subdir("noarch")]
    except BAD_VALUE as e:
        raise ResolutionError(
            f"target {target.name} names an unknown conda-platform {target.conda_platform!r}",
            why=str(e),
            hint="use a conda subdir such as linux-64, linux-aarch64, osx-arm64 or win-64",
        ) from e
    cache_dir.mkdir(parents=True, exist_ok=True)
    gateway = rattler.Gateway(
        cache_dir=cache_dir,
        default_config=rattler.SourceConfig(
            cache_action="force-cache-only" if offline else "cache-or-fetch"
        ),
    )
    try:
        records = run_async(_solve(urls, specs, platforms, virtual, gateway, prefer))
    except RATTLER_ERRORS as e:
        raise _error(e, target, where, offered, offline) from e
    pins = []
    solved = {r.name.normalized for r in records}
    for r in records:
        if r.sha256 is None:
            raise ResolutionError(
                f"conda package {r.file_name} has no sha256 in its channel's repodata",
                where=r.url,
                hint="re-index the channel with a tool that records sha256 "
                "(`rattler-index`, `conda index`), or use another channel",
            )
        pins.append(
            CondaPin(
                name=r.name.normalized,
                version=str(r.version),
                build=str(r.build),
                subdir=r.subdir,
                url=lock_url(r.url, project_dir, local_roots),
                sha256=r.sha256.hex(),
                requires=depends_names(r.depends, solved),
            )
        )
    return sorted(pins, key=lambda p: (p.name, p.version, p.build))


def depends_names(depends: Sequence[str], solved: set[str]) -> tuple[str, ...]:
    """The solved packages a record's `depends` (MatchSpecs) name; virtual ones left out."""
    names = set()
    for d in depends:
        m = _DEP_NAME_RE.match(d.rsplit("::", 1)[-1].strip())
        if m:
            names.add(m.group(0).lower())
    return tuple(sorted(n for n in names if n in solved))


def _error(
    e: Exception, target: Target, where: str, offered: Sequence[VirtualSpec], offline: bool
) -> ResolutionError:
    why = _tail(str(e))
    if isinstance(e, rx.SolverError):
        vps = ", ".join(f"{n}={v}={b}" for n, v, b in offered)
        return ResolutionError(
            f"the conda specs cannot be satisfied for target {target.name}",
            where=where,
            why=f"{why}\ntarget {target.name} ({target.conda_platform}) offers {vps}",
            hint="check the specs' names and versions; a package that needs a virtual package "
            "(__cuda, __glibc, …) the target lacks needs another target or another build",
        )
    if isinstance(e, rx.InvalidMatchSpecError | rx.InvalidVersionSpecError):
        return ResolutionError(
            "a conda spec is not a valid MatchSpec",
            where=where,
            why=why,
            hint="write specs like `numpy >=1.26,<2` or `pytorch 2.4.* *cuda*`",
        )
    if offline:
        hint = "--offline reads cached repodata only: resolve once without --offline"
    else:
        hint = (
            "check the channel names and URLs; a path channel (./channel) is relative to the "
            "project and needs an index (noarch/repodata.json, e.g. from `rattler-index fs`)"
        )
    return ResolutionError("cannot read the conda channels", where=where, why=why, hint=hint)


def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
