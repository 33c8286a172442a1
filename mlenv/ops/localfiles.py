"""Project-local artifacts that changed under their recipe: a file beside a recipe (`url:
model.onnx`, or a `file://` URL) is stored by its sha256 (a folder, `local: {path}`, by its
tree sha256), so once the bytes are overwritten
(a retrained model) every command would go on using the old object from the store. The ops
call `check_local_artifacts` first and refuse, naming the file, the recipe field, both hashes
and the fix (`mlenv recipes checksum --update NAME`).

Only project-local files are hashed (never a download, never the built-in catalog), and a
small cache keyed by (path, size, mtime_ns) keeps an unchanged file from being re-hashed on
every command (a folder: keyed by the (path, size, mtime_ns) listing of its tree).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlenv.envs.archives import tree_digest
from mlenv.errors import IntegrityError, MlenvError
from mlenv.lock import ArtifactPin, LockTarget
from mlenv.lockfields import local_url
from mlenv.paths import BUILTIN_PREFIX
from mlenv.sources import ArtifactSource, LocalSource, substitute

from .project import Project

CACHE_NAME = "local-sha256.json"
CACHE_LIMIT = 1024  # entries kept (the newest)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleFile:
    package: str
    path: Path
    recipe: str  # the recipe's label, e.g. ./recipes/models/x.yaml
    field: str  # e.g. install[0].artifact.sha256
    expected: str
    actual: str

    def to_dict(self) -> dict[str, str]:
        return {
            "package": self.package,
            "path": str(self.path),
            "recipe": self.recipe,
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
        }


def local_path(project: Project, url: str | None) -> Path | None:
    """The project file an artifact url names, or None (remote, built-in, or not a file)."""
    if not url or url.startswith(BUILTIN_PREFIX):
        return None
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    if "://" in url:
        return None
    return project.project_dir / url


def file_sha256(path: Path, cache: dict[str, Any]) -> str:
    """The file's sha256, from `cache` when its size and mtime_ns are unchanged."""
    st = path.stat()
    key = str(path.resolve())
    hit = cache.get(key)
    if isinstance(hit, list) and hit[:2] == [st.st_size, st.st_mtime_ns] and len(hit) == 3:
        cache[key] = cache.pop(key)  # most recently used last
        return str(hit[2])
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    cache.pop(key, None)
    cache[key] = [st.st_size, st.st_mtime_ns, digest]
    return digest


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(path: Path, cache: dict[str, Any]) -> None:
    keep = dict(list(cache.items())[-CACHE_LIMIT:])
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keep, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)


def _recipe_of(project: Project, section: LockTarget, pin: ArtifactPin) -> tuple[str, Any]:
    """The label of the pin's recipe, and the recipe as the index has it (None if it is gone)."""
    package = section.packages.get(pin.package)
    label = package.file if package and package.file else pin.package
    try:
        located = project.index.get(pin.package)
    except MlenvError:
        located = None
    return label, located if package is not None else None


def _field(project: Project, section: LockTarget, pin: ArtifactPin) -> tuple[str, str]:
    """The recipe label and the field of the pin's install entry (best effort)."""
    label, located = _recipe_of(project, section, pin)
    package = section.packages.get(pin.package)
    if located is None or package is None:
        return label, "install[?].artifact.sha256"
    values = {"version": package.version, **dict(package.variants)}
    for i, entry in enumerate(located.recipe.install):
        source = entry.source
        if not isinstance(source, ArtifactSource):
            continue
        url = substitute(source.url, values)
        if (url if "://" in url else local_url(located.resolve_relative(url))) == pin.url:
            return located.label, f"install[{i}].artifact.sha256"
    return located.label, "install[?].artifact.sha256"


def _folder_field(project: Project, section: LockTarget, pin: ArtifactPin) -> tuple[str, str]:
    """The recipe label and the field of a `local: {path}` folder's tree-sha256."""
    label, located = _recipe_of(project, section, pin)
    if located is None:
        return label, "install[?].local.tree-sha256"
    for i, entry in enumerate(located.recipe.install):
        source = entry.source
        path = source.path if isinstance(source, LocalSource) else None
        if path is not None and local_url(located.resolve_relative(path.rstrip("/"))) == pin.url:
            return located.label, f"install[{i}].local.tree-sha256"
    return located.label, "install[?].local.tree-sha256"


def _listing(root: Path) -> str:
    """sha256 of the (path, size, mtime_ns, mode) of everything under `root`: what the folder
    digest cache is keyed by (a changed, added or removed file changes it)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return h.hexdigest()


def folder_sha256(path: Path, cache: dict[str, Any]) -> str:
    """The folder's tree digest (envs/archives.py), from `cache` when its listing is unchanged."""
    key = f"tree:{path.resolve()}"
    listing = _listing(path)
    hit = cache.get(key)
    if isinstance(hit, list) and len(hit) == 2 and hit[0] == listing:
        cache[key] = cache.pop(key)
        return str(hit[1])
    digest = tree_digest(path)
    cache.pop(key, None)
    cache[key] = [listing, digest]
    return digest


def _actual(pin: ArtifactPin, path: Path, cache: dict[str, Any]) -> tuple[str, str] | None:
    """(the pinned hash, the one the file or folder has now), or None when not checked here."""
    if pin.member or pin.local_env:
        return None
    if pin.sha256 and path.is_file():
        return pin.sha256, file_sha256(path, cache)
    if pin.tree_sha256 and not pin.sha256 and path.is_dir():
        return pin.tree_sha256, folder_sha256(path, cache)
    return None  # a missing file is the fetch's to report


def stale_artifacts(project: Project, sections: Iterable[LockTarget]) -> list[StaleFile]:
    """Every project-local artifact whose bytes differ from the sha256 the lock pins."""
    cache_path = project.home / "cache" / CACHE_NAME
    cache = _load_cache(cache_path)
    before = dict(cache)
    found: dict[Path, StaleFile] = {}
    for section in sections:
        for pin in section.artifacts:
            path = local_path(project, pin.url)
            if path is None or path in found:
                continue
            try:
                hashes = _actual(pin, path, cache)
            except OSError:
                continue
            if hashes is not None and hashes[0] != hashes[1]:
                folder = not pin.sha256
                recipe, field = (_folder_field if folder else _field)(project, section, pin)
                found[path] = StaleFile(
                    package=pin.package,
                    path=path,
                    recipe=recipe,
                    field=field,
                    expected=hashes[0],
                    actual=hashes[1],
                )
    if cache != before:
        _save_cache(cache_path, cache)
    return list(found.values())


def stale_error(stale: list[StaleFile], project: Project) -> IntegrityError:
    first = stale[0]
    shown = _shown(first.path, project.project_dir)
    more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
    names = " ".join(sorted({s.package for s in stale}))
    why = "; ".join(
        f"{_shown(s.path, project.project_dir)}: {s.recipe} {s.field} is {s.expected}, "
        f"the {'folder' if s.field.endswith('tree-sha256') else 'file'} now has "
        f"{'tree ' if s.field.endswith('tree-sha256') else ''}sha256 {s.actual}"
        for s in stale
    )
    return IntegrityError(
        f"{shown} changed since its recipe's sha256 was written{more}",
        where=f"{first.recipe}: {first.field}",
        why=why,
        hint=f"if the new file is meant, run `mlenv recipes checksum --update {names}`, "
        "then `mlenv resolve`; otherwise put the old file back",
        details={"stale": [s.to_dict() for s in stale]},
    )


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def check_local_artifacts(project: Project, sections: Iterable[LockTarget]) -> None:
    """An IntegrityError when a project-local artifact no longer matches its sha256."""
    stale = stale_artifacts(project, sections)
    if stale:
        raise stale_error(stale, project)
