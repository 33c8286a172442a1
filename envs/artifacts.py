"""The artifact layer: models and data sets placed under `artifacts/<package>/`, linked from
the store after verification. Sources: a URL, a file beside the recipes (`builtin:` or a path
relative to the manifest), a file inside a pinned wheel, a folder beside a recipe (its tree
copied into the store, envs/localtree.py), or a folder the user supplies. An
archive (`extract: tar|zip`) is extracted once into the store (envs/archives.py) and its tree
linked to `artifacts/<package>/<name>/`; `path` names the file inside it the harness uses.

Files are placed as reflinks (copy-on-write) where the file system can, else hard links into
the store, else copies; which one, and the stat (size, mtime, inode, ctime) of every placed
file, is recorded beside env.json (`placed.json`), so that `check_placed` can tell cheaply
before a run whether a file may have changed (then it is hashed), or hash every file
(`mlenv run --verify`)."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import ArtifactPin
from mlenv.paths import BUILTIN_PREFIX
from mlenv.reporter import Reporter

from .archives import (
    changed_files,
    entries_digest,
    extracted_tree,
    tree_digest,
    tree_entries,
    tree_paths,
)
from .download import FetchOptions, fetch_to_store
from .localtree import folder_tree
from .store import Store, link_or_copy, sha256_file


@dataclass(frozen=True, kw_only=True)
class ArtifactContext:
    store: Store
    project_dir: Path  # where `./…` artifact names are relative to (the manifest folder)
    builtin_dir: Path
    options: FetchOptions
    reporter: Reporter
    environ: Mapping[str, str]


def source_of(pin: ArtifactPin, ctx: ArtifactContext) -> str:
    """A downloadable URL or a local path for the pin's url."""
    url = pin.url or ""
    if url.startswith(BUILTIN_PREFIX):
        return str(ctx.builtin_dir / url[len(BUILTIN_PREFIX) :])
    if "://" in url:
        return url
    return str(ctx.project_dir / url)


def _member(wheel: Path, pin: ArtifactPin, ctx: ArtifactContext) -> Path:
    """Take `pin.member` out of the wheel into the store, verified by its own sha256."""
    sha = pin.member_sha256 or ""
    label = f"{pin.member} (in {pin.url.rsplit('/', 1)[-1] if pin.url else 'a wheel'})"
    with ctx.store.lock(sha):
        if ctx.store.has(sha):
            return ctx.store.verified(sha, label)
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(str(pin.member))
        except KeyError as e:
            raise InstallError(
                f"{pin.member} is not inside {pin.url}",
                where=f"artifact {pin.name} of {pin.package}",
                hint="fix the wheel-file path in the recipe",
            ) from e
        except zipfile.BadZipFile as e:
            raise IntegrityError(f"{wheel} is not a valid wheel", hint="delete it and retry") from e
        tmp = ctx.store.temp_path(sha)
        tmp.write_bytes(data)
        return ctx.store.add(tmp, sha, label, move=True)


def local_folder(pin: ArtifactPin, environ: Mapping[str, str]) -> Path:
    """The folder of data the user supplies (a `local:` source), or a diagnostic."""
    value = environ.get(str(pin.local_env))
    if not value or not Path(value).is_dir():
        raise InstallError(
            f"{pin.package} needs data you supply: set {pin.local_env} to its folder",
            where=f"artifact {pin.name} of {pin.package}",
            why=f"{pin.local_env} is {'unset' if not value else f'not a folder: {value}'}",
            hint=f"export {pin.local_env}=/path/to/the/data and run the command again",
        )
    return Path(value).absolute()


def is_folder(pin: ArtifactPin) -> bool:
    """A folder beside a recipe (`local: {path}`): a url pinned by its tree hash alone."""
    return bool(pin.url and pin.tree_sha256 and not (pin.sha256 or pin.md5 or pin.local_env))


def place_artifact(
    pin: ArtifactPin, dest_root: Path, ctx: ArtifactContext, *, kinds: set[str] | None = None
) -> dict[str, str]:
    """Place one artifact under `dest_root/<package>/`; returns what env.json records. How
    each file was placed ("reflink", "hardlink", "copy") is added to `kinds` when given."""
    kinds = set() if kinds is None else kinds
    folder = dest_root / pin.package
    folder.mkdir(parents=True, exist_ok=True)
    label = f"artifact {pin.name} of {pin.package}"
    if pin.local_env:
        os.symlink(local_folder(pin, ctx.environ), folder / pin.name)
        return {"path": f"{pin.package}/{pin.name}", "local": pin.local_env}
    if is_folder(pin):
        tree = folder_tree(
            ctx.store,
            Path(source_of(pin, ctx)),
            str(pin.tree_sha256),
            label=label,
            reporter=ctx.reporter,
        )
        _link_tree(tree.path, folder / pin.name, kinds)
        return {"path": f"{pin.package}/{pin.name}", "tree": tree.key, "tree-sha256": tree.digest}
    obj, sha = fetch_to_store(
        ctx.store,
        source_of(pin, ctx),
        sha256=pin.sha256,
        md5=pin.md5,
        label=label,
        options=ctx.options,
        reporter=ctx.reporter,
        size=pin.size,
    )
    if pin.member:
        obj = _member(obj, pin, ctx)
        sha = pin.member_sha256 or sha
        name = PurePosixPath(pin.member).name
    else:
        name = pin.name
    if pin.extract:
        return _place_tree(pin, obj, sha, folder, ctx, kinds)
    kinds.add(link_or_copy(obj, folder / name))
    return {"path": f"{pin.package}/{name}", "sha256": sha}


def _place_tree(
    pin: ArtifactPin,
    archive: Path,
    sha: str,
    folder: Path,
    ctx: ArtifactContext,
    kinds: set[str],
) -> dict[str, str]:
    """An archive: its extracted tree (cached in the store) linked to `<package>/<name>/`."""
    label = f"{pin.name} (artifact of {pin.package})"
    tree = extracted_tree(
        ctx.store,
        archive,
        sha,
        extract=str(pin.extract),
        strip=pin.strip or 0,
        label=label,
        reporter=ctx.reporter,
    )
    recorded = {
        "path": f"{pin.package}/{pin.name}",
        "sha256": sha,
        "tree": tree.key,
        "tree-sha256": tree.digest,
    }
    if pin.path:
        inner = tree.path / pin.path
        if PurePosixPath(pin.path).is_absolute() or ".." in PurePosixPath(pin.path).parts:
            raise InstallError(
                f"the path {pin.path!r} of {label} must be relative to the extracted tree",
                hint="fix `path:` in the recipe (a file inside the archive, after `strip`)",
            )
        if not inner.is_file():
            top = sorted(p.name + ("/" if p.is_dir() else "") for p in tree.path.iterdir())
            shown = ", ".join(top[:8]) + (", …" if len(top) > 8 else "")
            raise InstallError(
                f"{pin.path} is not a file inside {label}",
                where=f"artifact {pin.name} of {pin.package}",
                why=f"after strip: {pin.strip or 0}, the archive holds: {shown or 'nothing'}",
                hint="fix `path:` (or `strip:`) in the recipe",
            )
        recorded["file"] = pin.path
    _link_tree(tree.path, folder / pin.name, kinds)
    return recorded


def _link_tree(tree: Path, dest: Path, kinds: set[str]) -> None:
    """archives.link_tree, noting how each file was placed: folders made anew, files
    reflinked/hard-linked/copied, symlinks re-made."""
    dest.mkdir(parents=True, exist_ok=True)
    for path, st in _walk(tree):
        target = dest / path.relative_to(tree)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(path), target)
        elif stat.S_ISDIR(st.st_mode):
            target.mkdir(exist_ok=True)
        else:
            kinds.add(link_or_copy(path, target))


def _walk(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Everything below `root` (not following links), sorted, with its lstat."""
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        st = entry.stat(follow_symlinks=False)
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(path)


def placed_file(env_artifacts: Path, info: Mapping[str, str]) -> Path:
    """What the harness uses of one recorded artifact: the file, the file inside an extracted
    archive (`file`), or the folder (an archive without `path`, user-supplied data)."""
    path = env_artifacts / info["path"]
    return path / info["file"] if info.get("file") else path


def verify_placed(
    env_artifacts: Path, recorded: Mapping[str, Mapping[str, str]], store: Store | None = None
) -> list[str]:
    """Differences between placed artifacts and what env.json recorded (with the store, the
    changed files of an extracted archive are named)."""
    out = []
    for key, info in sorted(recorded.items()):
        path = env_artifacts / info["path"]
        if "local" in info:
            if not path.exists():
                out.append(f"{key}: the folder named by {info['local']} is gone ({path})")
            continue
        if "tree-sha256" in info:
            out.extend(_verify_tree(key, path, info, store))
            continue
        if not path.is_file():
            out.append(f"{key}: missing {path}")
        elif sha256_file(path) != info["sha256"]:
            out.append(f"{key}: {path} changed (sha256 no longer {info['sha256']})")
    return out


def _verify_tree(key: str, path: Path, info: Mapping[str, str], store: Store | None) -> list[str]:
    if not path.is_dir() or path.is_symlink():
        return [f"{key}: missing the extracted folder {path}"]
    if tree_digest(path) == info["tree-sha256"]:
        return []
    changed = changed_files(path, tree_paths(store, info["tree"])[1]) if store else []
    detail = f": {'; '.join(changed)}" if changed else ""
    return [f"{key}: {path} changed (tree sha256 no longer {info['tree-sha256']}){detail}"]


# -- the run-time check: stat recorded at install, a hash where the stat moved -------------------

STAT_FIELDS = ("size", "mtime_ns", "ino", "ctime_ns")


def _stat_list(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def _stat_dict(st: os.stat_result) -> dict[str, int]:
    return dict(zip(STAT_FIELDS, _stat_list(st), strict=True))


def _tree_stats(root: Path) -> dict[str, list[int]]:
    """relative path -> [size, mtime_ns, ino, ctime_ns] of every folder, file and link."""
    if not root.is_dir() or root.is_symlink():
        return {}
    return {path.relative_to(root).as_posix(): _stat_list(st) for path, st in _walk(root)}


def placement(env_artifacts: Path, info: Mapping[str, str], kinds: set[str]) -> dict[str, Any]:
    """What placed.json records for one artifact: how its files were placed
    (`link`) and their stat, taken once every artifact is placed (a later hard link to the
    same object changes the ctime of the earlier one)."""
    path = env_artifacts / info["path"]
    link = "+".join(sorted(kinds)) or "none"
    if "tree-sha256" in info:
        return {"link": link, "stat-fields": list(STAT_FIELDS), "files": _tree_stats(path)}
    return {"link": link, "stat": _stat_dict(os.stat(path))}


@dataclass(frozen=True, kw_only=True)
class Changed:
    """One placed file whose bytes are not the ones the lock pins."""

    artifact: str  # package/name
    path: Path
    expected: str  # the lock's sha256 (for a file of an extracted tree: the listing's)
    actual: str | None  # None: the file is missing
    store_object: Path | None = None  # the file IS this store object (a hard link): changed too

    def line(self) -> str:
        got = f"got sha256 {self.actual}" if self.actual else "the file is missing"
        out = f"{self.artifact}: {self.path}\n  lock sha256 {self.expected}\n  {got}"
        if self.store_object is not None:
            out += (
                f"\n  this file is a hard link to the store object {self.store_object}: "
                "the store's copy changed with it"
            )
        return out


def check_placed(
    env_artifacts: Path,
    recorded: Mapping[str, Mapping[str, Any]],
    placed: Mapping[str, Mapping[str, Any]],
    *,
    full: bool = False,
    store: Store | None = None,
    locked: Mapping[str, str] | None = None,
) -> tuple[list[Changed], dict[str, dict[str, Any]]]:
    """Placed files whose bytes differ from the lock's sha256 (`locked`: artifact key -> the
    lock's sha256 or tree sha256; else env.json's). A file whose stat is as recorded at install
    is trusted (the cheap check); any other file is hashed, and with `full` every file is.

    The stat catches a write in place (mtime, ctime), a replaced file (ino) and a restored
    mtime (`os.utime` sets ctime to now). Returns the changes, and fresh `placed` entries for
    artifacts whose stat moved but whose bytes are right (so the next check is cheap again).
    """
    changes: list[Changed] = []
    fresh: dict[str, dict[str, Any]] = {}
    for key, info in sorted(recorded.items()):
        if "local" in info or "path" not in info:
            continue
        entry = placed.get(key)
        entry = dict(entry) if isinstance(entry, Mapping) else {}
        expected = (locked or {}).get(key)
        check = _check_tree if "tree-sha256" in info else _check_file
        found, renewed = check(key, env_artifacts, info, entry, full, store, expected)
        changes.extend(found)
        if renewed is not None:
            fresh[key] = renewed
    return changes, fresh


def _same_file(a: os.stat_result, b: Path) -> bool:
    try:
        st = os.stat(b)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (a.st_dev, a.st_ino)


def _check_file(
    key: str,
    env_artifacts: Path,
    info: Mapping[str, Any],
    entry: dict[str, Any],
    full: bool,
    store: Store | None,
    expected: str | None,
) -> tuple[list[Changed], dict[str, Any] | None]:
    path = env_artifacts / info["path"]
    want = expected or str(info["sha256"])
    try:
        st = os.stat(path)
    except OSError:
        return [Changed(artifact=key, path=path, expected=want, actual=None)], None
    if not full and entry.get("stat") == _stat_dict(st):
        return [], None
    if not stat.S_ISREG(st.st_mode):
        return [Changed(artifact=key, path=path, expected=want, actual="(not a file)")], None
    actual = sha256_file(path)
    if actual == want:
        return [], {**entry, "stat": _stat_dict(st)}
    obj = store.path(want) if store is not None else None
    shared = obj if obj is not None and _same_file(st, obj) else None
    return [
        Changed(artifact=key, path=path, expected=want, actual=actual, store_object=shared)
    ], None


def _check_tree(
    key: str,
    env_artifacts: Path,
    info: Mapping[str, Any],
    entry: dict[str, Any],
    full: bool,
    store: Store | None,
    expected: str | None,
) -> tuple[list[Changed], dict[str, Any] | None]:
    root = env_artifacts / info["path"]
    want = expected or str(info["tree-sha256"])
    if not full and entry.get("files") is not None and entry["files"] == _tree_stats(root):
        return [], None
    if not root.is_dir() or root.is_symlink():
        return [Changed(artifact=key, path=root, expected=want, actual=None)], None
    entries = tree_entries(root)
    if entries_digest(entries) == want:
        return [], {**entry, "stat-fields": list(STAT_FIELDS), "files": _tree_stats(root)}
    found = _tree_changes(key, root, entries, want, info, store)
    actual = entries_digest(entries)
    return found or [Changed(artifact=key, path=root, expected=want, actual=actual)], None


def _tree_changes(
    key: str,
    root: Path,
    entries: list[str],
    want: str,
    info: Mapping[str, Any],
    store: Store | None,
) -> list[Changed]:
    """The changed files of a placed tree, by the store's listing (when it is the lock's)."""
    if store is None:
        return []
    folder, listing = tree_paths(store, str(info.get("tree", "")))
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
        listed = [str(e) for e in data["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if entries_digest(listed) != want:
        return []  # the listing is not the lock's tree: it cannot name the files
    by_path = {e.rsplit("\t", 1)[-1]: e for e in listed}
    have = {e.rsplit("\t", 1)[-1]: e for e in entries}
    out = []
    for rel in sorted(set(by_path) | set(have)):
        old, new = by_path.get(rel), have.get(rel)
        if old == new:
            continue
        path = root / rel
        shared = None
        if new is not None and new.startswith("f\t"):
            st = os.lstat(path)
            shared = folder / rel if _same_file(st, folder / rel) else None
        out.append(
            Changed(
                artifact=key,
                path=path,
                expected=_entry_hash(old) if old else "(not in the archive)",
                actual=_entry_hash(new) if new else None,
                store_object=shared,
            )
        )
    return out


def _entry_hash(entry: str) -> str:
    kind, mode, value, _ = entry.split("\t", 3)
    if kind == "f":
        return value + (" (executable)" if mode == "x" else "")
    return f"a link to {value}" if kind == "l" else "a folder"


def changed_error(changes: list[Changed]) -> IntegrityError:
    """The diagnostic for artifacts that changed after install (before a run uses them)."""
    first = changes[0]
    shared = sorted({str(c.store_object) for c in changes if c.store_object is not None})
    message = (
        f"artifact {first.artifact} changed since the environment was installed"
        if len({c.artifact for c in changes}) == 1
        else f"{len(changes)} artifact files changed since the environment was installed"
    )
    hint = "run `mlenv install --force` to rebuild the environment from the store"
    if shared:
        hint = (
            f"the store object itself changed: delete {' '.join(shared)} (mlenv will fetch or "
            "extract it anew), then run `mlenv install --force`"
        )
    return IntegrityError(
        message,
        where=str(first.path),
        why="\n".join(c.line() for c in changes[:20])
        + (f"\n… {len(changes) - 20} more" if len(changes) > 20 else ""),
        hint=hint,
        details={
            "changed": [
                {
                    "artifact": c.artifact,
                    "path": str(c.path),
                    "expected": c.expected,
                    "actual": c.actual,
                    "store_object": str(c.store_object) if c.store_object else None,
                }
                for c in changes
            ]
        },
    )
