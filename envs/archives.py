"""Archives (`extract: tar|zip`, `strip: N`): extracted safely, once per store, linked into envs.

Extraction refuses absolute paths, `..` traversal, links that resolve outside the tree, and
device files or fifos. Each extraction is cached in the store as a tree keyed by (archive sha256,
extract, strip): built in a temporary folder under the store's lock, renamed into place, its
files read-only, with a listing beside it (`<key>.json`) whose digest names the tree's content.
Environments get hard links of the tree's files.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlenv.errors import InstallError, IntegrityError
from mlenv.reporter import Reporter

from .store import CHUNK, Store, link_or_copy, sha256_file

KINDS = ("tar", "zip")
LISTING_VERSION = 1


def tree_key(archive_sha256: str, extract: str, strip: int) -> str:
    return f"{archive_sha256}-{extract}-{strip}"


@dataclass(frozen=True, kw_only=True)
class Tree:
    """An extracted archive in the store."""

    key: str
    path: Path
    digest: str  # sha256 of the listing (tree_entries)
    files: int
    size: int


def tree_paths(store: Store, key: str) -> tuple[Path, Path]:
    """The tree's folder and its listing file."""
    return store.trees / key, store.trees / f"{key}.json"


# -- the listing and its digest -------------------------------------------------------------------


def tree_entries(root: Path) -> list[str]:
    """One line per folder, file and symlink under `root`, sorted: what the digest covers.

    `d\\t-\\t-\\tPATH`, `f\\tx|-\\tSHA256\\tPATH` (x: executable), `l\\t-\\tTARGET\\tPATH`."""
    out = []
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            out.append(f"l\t-\t{os.readlink(path)}\t{rel}")
        elif stat.S_ISDIR(st.st_mode):
            out.append(f"d\t-\t-\t{rel}")
        else:
            x = "x" if st.st_mode & 0o111 else "-"
            out.append(f"f\t{x}\t{sha256_file(path)}\t{rel}")
    return sorted(out, key=lambda line: line.rsplit("\t", 1)[-1])


def entries_digest(entries: list[str]) -> str:
    return hashlib.sha256("".join(e + "\n" for e in entries).encode()).hexdigest()


def tree_digest(root: Path) -> str:
    return entries_digest(tree_entries(root))


def _walk(root: Path) -> Iterator[Path]:
    with os.scandir(root) as it:
        for entry in sorted(it, key=lambda e: e.name):
            path = Path(entry.path)
            yield path
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path)


def tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in _walk(root) if p.is_file() and not p.is_symlink())


# -- safe extraction ------------------------------------------------------------------------------


class _Unsafe(Exception):
    def __init__(self, member: str, why: str) -> None:
        super().__init__(why)
        self.member = member
        self.why = why


def _relative(name: str, strip: int) -> str | None:
    """The member's path inside the tree after `strip` leading folders; None when stripped
    away entirely. Absolute paths and `..` are refused."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise _Unsafe(name, "is an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _Unsafe(name, "climbs out of the archive with '..'")
    parts = parts[strip:]
    return "/".join(parts) or None


def _inside(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


class _Extractor:
    """Writes members into `root`, checking every path against where it really lands."""

    def __init__(self, root: Path, strip: int) -> None:
        self.root = root
        self.real = os.path.realpath(root)
        self.strip = strip
        self.symlinks: list[tuple[str, Path]] = []

    def target(self, name: str) -> Path | None:
        rel = _relative(name, self.strip)
        if rel is None:
            return None
        dest = self.root / rel
        if not _inside(str(dest.parent), self.real):
            raise _Unsafe(name, "would be written through a link that leads outside the tree")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()  # a later member of the same name replaces an earlier one
        elif dest.is_dir():
            raise _Unsafe(name, "replaces a folder of the same archive")
        return dest

    def directory(self, name: str) -> None:
        rel = _relative(name, self.strip)
        if rel is None:
            return
        dest = self.root / rel
        if not _inside(str(dest), self.real):
            raise _Unsafe(name, "would be created through a link that leads outside the tree")
        if dest.is_dir():
            return
        if dest.is_symlink() or dest.exists():
            raise _Unsafe(name, "is a folder where the archive already put a file")
        dest.mkdir(parents=True)

    def file(self, name: str, data: IO[bytes], executable: bool) -> None:
        dest = self.target(name)
        if dest is None:
            return
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(data, out, CHUNK)
        dest.chmod(0o555 if executable else 0o444)

    def symlink(self, name: str, link: str) -> None:
        if not link:
            raise _Unsafe(name, "is a link to nothing")
        if link.startswith("/"):
            raise _Unsafe(name, f"is a link to an absolute path ({link})")
        dest = self.target(name)
        if dest is None:
            return
        if not _inside(os.path.join(dest.parent, link), self.real):
            raise _Unsafe(name, f"is a link that leads outside the tree ({link})")
        os.symlink(link, dest)
        self.symlinks.append((name, dest))

    def hardlink(self, name: str, link: str) -> None:
        try:
            rel = _relative(link, self.strip)
        except _Unsafe as e:
            raise _Unsafe(name, f"is a hard link to {link!r}, which {e.why}") from None
        source = self.root / rel if rel else None
        if (
            source is None
            or not _inside(str(source), self.real)
            or source.is_symlink()
            or not source.is_file()
        ):
            raise _Unsafe(name, f"is a hard link to {link!r}, which is not a file of the tree")
        dest = self.target(name)
        if dest is not None:
            os.link(source, dest)

    def finish(self) -> None:
        """Links made early can be redirected by later members: check where each one lands."""
        for name, dest in self.symlinks:
            if dest.is_symlink() and not _inside(str(dest), self.real):
                raise _Unsafe(name, "is a link that leads outside the tree")


def _extract_tar(archive: Path, ex: _Extractor) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            if member.isdir():
                ex.directory(member.name)
            elif member.isreg():
                data = tf.extractfile(member)
                if data is None:  # pragma: no cover - a regular member always has data
                    raise _Unsafe(member.name, "has no data")
                with data:
                    ex.file(member.name, data, bool(member.mode & 0o111))
            elif member.issym():
                ex.symlink(member.name, member.linkname)
            elif member.islnk():
                ex.hardlink(member.name, member.linkname)
            elif member.ischr() or member.isblk():
                raise _Unsafe(member.name, "is a device file")
            elif member.isfifo():
                raise _Unsafe(member.name, "is a fifo")
            else:
                raise _Unsafe(member.name, f"has an unsupported tar type {member.type!r}")


def _extract_zip(archive: Path, ex: _Extractor) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if info.is_dir() or kind == stat.S_IFDIR:
                ex.directory(info.filename)
            elif kind == stat.S_IFLNK:
                ex.symlink(info.filename, zf.read(info).decode("utf-8", "surrogateescape"))
            elif kind in (0, stat.S_IFREG):
                with zf.open(info) as data:
                    ex.file(info.filename, data, bool(mode & 0o111))
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                raise _Unsafe(info.filename, "is a device file")
            elif kind == stat.S_IFIFO:
                raise _Unsafe(info.filename, "is a fifo")
            else:
                raise _Unsafe(info.filename, f"has an unsupported file type {oct(kind)}")


def extract_archive(archive: Path, dest: Path, *, extract: str, strip: int, label: str) -> None:
    """Extract into the empty folder `dest`; an unsafe or unreadable archive is an error."""
    _check_options(extract, strip, label)
    ex = _Extractor(dest, strip)
    try:
        (_extract_tar if extract == "tar" else _extract_zip)(archive, ex)
        ex.finish()
    except _Unsafe as e:
        raise IntegrityError(
            f"refusing to extract {label}: member {e.member!r} {e.why}",
            where=label,
            why="an archive may only create files and folders inside its own tree",
            hint="nothing was extracted; check where the archive comes from, and report it to "
            "the recipe's maintainer",
            details={"archive": label, "member": e.member, "reason": e.why},
        ) from None
    except OSError as e:
        if e.errno is None:  # a decompressor's complaint (gzip, bz2), not the file system's
            raise _unreadable(label, extract, e) from e
        raise InstallError(
            f"cannot extract {label}: {e.strerror}",
            where=str(e.filename or dest),
            hint="check the free space and the permissions of MLENV_HOME",
        ) from e
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError) as e:
        raise _unreadable(label, extract, e) from e
    except (UnicodeError, ValueError) as e:
        raise _unreadable(label, extract, e) from e


def _check_options(extract: str, strip: int, label: str) -> None:
    if extract not in KINDS or strip < 0:
        raise InstallError(
            f"{label}: cannot extract with extract={extract!r}, strip={strip}",
            hint="extract is 'tar' or 'zip' and strip a count of folders; re-create the lock "
            "with `mlenv resolve` (never edit it by hand)",
        )


def _unreadable(label: str, extract: str, e: Exception) -> InstallError:
    return InstallError(
        f"cannot read {label} as a {extract} archive: {e}",
        where=label,
        hint=f"check `extract: {extract}` in the recipe (tar covers .tar, .tar.gz, .tgz, "
        ".tar.bz2, .tar.xz)",
    )


# -- the cache of extracted trees -----------------------------------------------------------------


def _read_listing(listing: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != LISTING_VERSION:
        return None
    return data


def _remove_tree(path: Path) -> None:
    if path.exists() or path.is_symlink():
        aside = path.with_name(f".{path.name}.gone-{os.getpid()}")
        os.replace(path, aside)
        shutil.rmtree(aside, ignore_errors=True)


def extracted_tree(
    store: Store,
    archive: Path,
    archive_sha256: str,
    *,
    extract: str,
    strip: int,
    label: str,
    reporter: Reporter,
) -> Tree:
    """The store's tree for (archive, extract, strip), extracting it once; re-checked on use
    (a changed tree is rebuilt from the verified archive)."""
    _check_options(extract, strip, label)
    key = tree_key(archive_sha256, extract, strip)
    folder, listing = tree_paths(store, key)
    with store.lock(f"tree-{key}"):
        data = _read_listing(listing) if folder.is_dir() else None
        if data is not None:
            entries = tree_entries(folder)
            if entries_digest(entries) == data.get("digest"):
                return Tree(
                    key=key,
                    path=folder,
                    digest=str(data["digest"]),
                    files=int(data.get("files", 0)),
                    size=int(data.get("size", 0)),
                )
            reporter.warn(f"the extracted tree of {label} in the store changed; extracting anew")
        listing.unlink(missing_ok=True)
        _remove_tree(folder)
        reporter.info(f"extracting {label}")
        store.tmp.mkdir(parents=True, exist_ok=True)
        build = store.tmp / f"tree-{key}.{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir()
        try:
            extract_archive(archive, build, extract=extract, strip=strip, label=label)
            entries = tree_entries(build)
            files = sum(1 for e in entries if e.startswith("f\t"))
            size = tree_size(build)
            digest = entries_digest(entries)
            store.trees.mkdir(parents=True, exist_ok=True)
            os.replace(build, folder)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        document = {
            "version": LISTING_VERSION,
            "archive": archive_sha256,
            "extract": extract,
            "strip": strip,
            "digest": digest,
            "files": files,
            "size": size,
            "entries": entries,
        }
        tmp = listing.with_name(f".{listing.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, indent=0) + "\n", encoding="utf-8")
        os.replace(tmp, listing)  # the listing is written last: a tree without one is rebuilt
        return Tree(key=key, path=folder, digest=digest, files=files, size=size)


def link_tree(tree: Path, dest: Path) -> None:
    """Folders made anew, files hard-linked (copied across devices), symlinks re-made."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in _walk(tree):
        target = dest / path.relative_to(tree)
        if path.is_symlink():
            os.symlink(os.readlink(path), target)
        elif path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            link_or_copy(path, target)


def changed_files(placed: Path, listing: Path, limit: int = 5) -> list[str]:
    """Which paths of a placed tree differ from the store's listing (for verify)."""
    data = _read_listing(listing)
    if data is None:
        return []
    want = {e.rsplit("\t", 1)[-1]: e for e in data.get("entries", [])}
    have = {e.rsplit("\t", 1)[-1]: e for e in tree_entries(placed)}
    out = []
    for rel in sorted(set(want) | set(have)):
        if rel not in have:
            out.append(f"{rel} missing")
        elif rel not in want:
            out.append(f"{rel} not in the archive")
        elif want[rel] != have[rel]:
            out.append(f"{rel} changed")
    return out[:limit] + ([f"… {len(out) - limit} more"] if len(out) > limit else [])
