"""Environment management and store garbage collection (`mlenv env list/remove/gc`).

gc keeps every store object, extracted tree and md5 index entry that an environment's env.json
or a lock of the listed projects references, and removes the rest along with partial downloads
and build folders of processes that are gone. It holds the store-wide lock exclusively
(Store.exclusive) for the whole sweep: installs hold it shared, so gc never races one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import InstallError
from mlenv.lock import Lock

from .archives import tree_key
from .store import STORE_LOCK, Store, env_lock_key, process_alive

ENV_FILE = "env.json"


# -- environments ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EnvInfo:
    target: str
    path: Path
    lock: str | None  # the lock section digest env.json records; None when env.json is unreadable
    info: Mapping[str, Any]


def envs_dir(project: Path) -> Path:
    return project / ".mlenv" / "envs"


def read_env_json(env_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((env_dir / ENV_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def project_envs(project: Path) -> list[EnvInfo]:
    """The project's environments (build and swap folders, hidden, are not environments)."""
    folder = envs_dir(project)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_dir() or path.is_symlink():
            continue
        info = read_env_json(path)
        lock = str(info["lock"]) if info and isinstance(info.get("lock"), str) else None
        out.append(EnvInfo(target=path.name, path=path, lock=lock, info=info or {}))
    return out


@dataclass(frozen=True, kw_only=True)
class DiskUsage:
    size: int  # bytes of the distinct files under the folder
    exclusive: int  # of those, bytes held by no other link (what removing it frees)


def disk_usage(root: Path) -> DiskUsage:
    seen: set[tuple[int, int]] = set()
    size = exclusive = 0
    for st in _stats(root):
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        size += st.st_size
        if st.st_nlink <= 1 or stat.S_ISDIR(st.st_mode):
            exclusive += st.st_size
    return DiskUsage(size=size, exclusive=exclusive)


def _stats(root: Path, skip: frozenset[str] = frozenset()) -> Iterator[os.stat_result]:
    """The lstat of everything below `root` (links not followed; the top-level names in `skip`
    left out)."""
    try:
        it = os.scandir(root)
    except OSError:
        return
    with it:
        for entry in it:
            if entry.name in skip:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield st
            if stat.S_ISDIR(st.st_mode):
                yield from _stats(Path(entry.path))


def file_bytes(root: Path, skip: frozenset[str] = frozenset()) -> int | None:
    """The bytes of the regular files below `root`, a hard-linked file counted once (the
    top-level names in `skip` left out); None when `root` cannot be read."""
    if not os.access(root, os.R_OK | os.X_OK) or not root.is_dir():
        return None
    seen: set[tuple[int, int]] = set()
    total = 0
    for st in _stats(root, skip):
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _rmtree(path: Path) -> None:
    def retry(func: Callable[..., Any], name: str, _: Any) -> None:
        for folder in (os.path.dirname(name), name):  # a read-only folder inside (conda, …)
            if os.path.isdir(folder) and not os.path.islink(folder):
                with contextlib.suppress(OSError):
                    os.chmod(folder, 0o755)
        func(name)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=retry)


def remove_env(env_dir: Path, store: Store) -> DiskUsage:
    """Delete one environment atomically: renamed aside under its build lock, then deleted."""
    with store.lock(env_lock_key(env_dir)):
        if not env_dir.is_dir():
            raise InstallError(f"no environment at {env_dir}", hint="`mlenv env list` shows them")
        usage = disk_usage(env_dir)
        aside = env_dir.parent / f".{env_dir.name}.old"  # what materialize() sweeps, too
        _rmtree(aside)
        os.replace(env_dir, aside)
        _rmtree(aside)
    return usage


# -- references -----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class References:
    objects: set[str] = field(default_factory=set)  # sha256 of store objects
    trees: set[str] = field(default_factory=set)  # extracted tree keys
    md5: set[str] = field(default_factory=set)  # md5-only artifacts (mapped by the md5 index)
    archives_md5: set[tuple[str, str, int]] = field(default_factory=set)  # (md5, extract, strip)

    def update(self, other: References) -> None:
        self.objects |= other.objects
        self.trees |= other.trees
        self.md5 |= other.md5
        self.archives_md5 |= other.archives_md5


def lock_references(lock: Lock) -> References:
    refs = References()
    for section in lock.targets.values():
        refs.objects.update(p.sha256 for p in section.pypi)
        refs.objects.update(c.sha256 for c in section.conda)
        for a in section.artifacts:
            for sha in (a.sha256, a.member_sha256):
                if sha:
                    refs.objects.add(sha)
            if a.md5 and not a.sha256:
                refs.md5.add(a.md5)
            if a.extract and a.sha256:
                refs.trees.add(tree_key(a.sha256, a.extract, a.strip or 0))
            elif a.extract and a.md5:
                refs.archives_md5.add((a.md5, a.extract, a.strip or 0))
    return refs


def env_references(info: Mapping[str, Any]) -> References:
    refs = References()
    for layer in ("pypi", "conda", "artifacts"):
        entries = info.get(layer)
        if not isinstance(entries, dict):
            continue
        for entry in entries.values():
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("sha256"), str):
                refs.objects.add(entry["sha256"])
            if isinstance(entry.get("tree"), str):
                refs.trees.add(entry["tree"])
    return refs


# -- the sweep ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Removed:
    kind: str  # object | link | tree | md5 | partial | build | cache
    path: Path
    size: int  # bytes it held in the store
    freed: int  # bytes of disk actually released (files no environment still links)


@dataclass(kw_only=True)
class GcReport:
    removed: list[Removed] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.removed:
            t = out.setdefault(r.kind, {"count": 0, "size": 0, "freed": 0})
            t["count"] += 1
            t["size"] += r.size
            t["freed"] += r.freed
        return out

    @property
    def freed(self) -> int:
        return sum(r.freed for r in self.removed)


def _file_stats(path: Path) -> list[os.stat_result]:
    """The files (not folders) at or under `path`, without following links."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return [st]
    return [s for s in _stats(path) if not stat.S_ISDIR(s.st_mode)]


def _measure(doomed: list[tuple[str, Path]]) -> list[Removed]:
    """Each item's size, and the disk its removal frees: an inode is freed when every one of
    its links goes (an object and its wheel link go together), counted once."""
    stats = [(kind, path, _file_stats(path)) for kind, path in doomed]
    links: dict[tuple[int, int], int] = {}
    for _, _, files in stats:
        for st in files:
            links[(st.st_dev, st.st_ino)] = links.get((st.st_dev, st.st_ino), 0) + 1
    counted: set[tuple[int, int]] = set()
    out = []
    for kind, path, files in stats:
        size = freed = 0
        for st in files:
            key = (st.st_dev, st.st_ino)
            size += st.st_size
            if key not in counted and links[key] >= st.st_nlink:
                freed += st.st_size
                counted.add(key)
        out.append(Removed(kind=kind, path=path, size=size, freed=freed))
    return out


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _plan(
    store: Store, refs: References, builds: Iterable[Path]
) -> tuple[list[tuple[str, Path]], dict[str, int]]:
    kept_objects = {sha for sha in refs.objects if store.has(sha)}
    for md5 in refs.md5 | {m for m, _, _ in refs.archives_md5}:
        sha = store.sha256_for_md5(md5)
        if sha:
            kept_objects.add(sha)
    kept_trees = set(refs.trees)
    for md5, extract, strip in refs.archives_md5:
        sha = store.sha256_for_md5(md5)
        if sha:
            kept_trees.add(tree_key(sha, extract, strip))
    doomed: list[tuple[str, Path]] = []
    for prefix in _children(store.objects):
        for obj in _children(prefix):
            if obj.name.startswith("."):
                doomed.append(("partial", obj))  # Store.add's temporary file of a killed process
            elif obj.name not in kept_objects:
                doomed.append(("object", obj))
    for entry in _children(store.trees):
        key = entry.name[: -len(".json")] if entry.name.endswith(".json") else entry.name
        if entry.name.startswith("."):
            doomed.append(("partial", entry))
        elif key not in kept_trees:
            doomed.append(("tree", entry))
    for folder in _children(store.wheels):  # wheel-named links of objects (Store.wheel_link)
        if folder.name not in kept_objects:
            doomed.append(("link", folder))
        else:
            doomed.extend(("partial", p) for p in _children(folder) if p.name.startswith("."))
    for entry in _children(store.md5_index):
        if entry.name.startswith("."):
            doomed.append(("partial", entry))
            continue
        try:
            sha = entry.read_text(encoding="ascii").strip()
        except OSError:
            sha = ""
        if sha not in kept_objects:
            doomed.append(("md5", entry))
    doomed.extend(("partial", p) for p in _children(store.tmp))  # nobody else is in the store
    doomed.extend(("build", p) for p in builds)
    kept = {
        "objects": len(kept_objects),
        "trees": sum(1 for k in kept_trees if (store.trees / k).is_dir()),
    }
    return doomed, kept


def stale_builds(project: Path) -> list[Path]:
    """Build folders (`.<target>.tmp-<pid>`) of installs whose process is gone."""
    out = []
    for path in _children(envs_dir(project)):
        name, sep, pid = path.name.rpartition(".tmp-")
        if name.startswith(".") and sep and pid.isdigit() and not process_alive(int(pid)):
            out.append(path)
    return out


def collect_garbage(
    store: Store,
    refs: Callable[[], References],
    *,
    builds: Callable[[], list[Path]] = list,
    dry_run: bool = False,
    waiting: Callable[[], None] | None = None,
    timeout: float = 600.0,
    caches: Callable[[bool], list[Removed]] | None = None,
) -> GcReport:
    """Remove what `refs()` does not reference (read once the store is ours alone); `caches`
    empties caches too, while no install runs (see clean_caches)."""
    report = GcReport(dry_run=dry_run)
    with store.exclusive(timeout=timeout, waiting=waiting):
        doomed, report.kept = _plan(store, refs(), builds())
        report.removed = _measure(doomed)
        if not dry_run:
            for item in report.removed:
                _rmtree(item.path)
        if caches is not None:
            report.removed.extend(caches(dry_run))
        if not dry_run:
            for prefix in _children(store.objects):
                if prefix.is_dir() and not any(prefix.iterdir()):
                    prefix.rmdir()
            for lock in _children(store.locks):  # nobody holds them: gc has the store alone
                if lock.name != STORE_LOCK:
                    lock.unlink(missing_ok=True)
    return report


def clean_caches(home: Path, uv: str, dry_run: bool) -> list[Removed]:
    """uv's cache of unpacked wheels (emptied by `uv cache clean`, which respects other uv
    processes) and rattler's cache of extracted conda packages, under MLENV_HOME/cache."""
    out = []
    for folder in (home / "cache" / "uv", home / "cache" / "rattler" / "pkgs"):
        if not folder.is_dir():
            continue
        usage = disk_usage(folder)
        out.append(Removed(kind="cache", path=folder, size=usage.size, freed=usage.exclusive))
        if dry_run:
            continue
        if folder.name == "uv":
            proc = subprocess.run(
                [uv, "cache", "clean", "--no-config", "--cache-dir", str(folder)],
                capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if proc.returncode != 0:
                raise InstallError(
                    f"uv could not empty its cache at {folder}",
                    why="\n".join(proc.stderr.strip().splitlines()[-5:]),
                    hint="run the command again once other uv processes are done",
                )
        else:
            _rmtree(folder)
    return out
