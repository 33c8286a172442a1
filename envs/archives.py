"""Archives (`extract: tar|zip`, `strip: N`): extracted safely, once per store, linked into envs.

Extraction refuses absolute paths, `..` traversal, links that resolve outside the tree, and
device files or fifos. It is bounded, checked before anything is written: the files of one
archive add up to at most `size_cap(archive size)` = max(MIN_CAP, CAP_RATIO x the archive's
size) = max(1 GiB, 200 x), in at most MAX_MEMBERS members. A member that would pass the cap is
refused before its first byte is written, sparse tar members are refused, and each file is
written while counted, stopped at the size its header declares (a zip member whose declared
size lies stops there). A tar is read as a stream whose decompressed bytes may not exceed the
members' declared sizes plus their headers, so a decompression bomb stops early too. After
a refusal the partial tree is removed (`extracted_tree` builds in a temporary folder). Each extraction is cached in the store as a tree keyed by (archive sha256,
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
from typing import IO, Any, cast

from mlenv.errors import InstallError, IntegrityError
from mlenv.reporter import Reporter

from .store import CHUNK, Store, link_or_copy, sha256_file
from .streams import CountedReader, Overflow, decompressed

KINDS = ("tar", "zip")
LISTING_VERSION = 1
MIN_CAP = 1 << 30  # 1 GiB: any archive may extract to this much
CAP_RATIO = 200  # or to 200 times its own size, when that is more
MAX_MEMBERS = 1_000_000
MAX_LINK = 4096  # the longest symbolic link target a zip member may hold
HEADER_SLACK = 64 << 10  # decompressed bytes allowed beyond the declared data, per member


def size_cap(archive_size: int) -> int:
    """How many bytes the files of an archive of `archive_size` bytes may add up to."""
    return max(MIN_CAP, CAP_RATIO * archive_size)


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

    def __init__(self, root: Path, strip: int, cap: int) -> None:
        self.root = root
        self.real = os.path.realpath(root)
        self.strip = strip
        self.symlinks: list[tuple[str, Path]] = []
        self.cap = cap  # the bytes all files may add up to
        self.used = 0
        self.members = 0

    def member(self, name: str) -> None:
        """Count one member against MAX_MEMBERS."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise _Unsafe(name, f"is one member too many (an archive holds at most {MAX_MEMBERS})")

    def take(self, name: str, size: int) -> None:
        """Count `size` bytes against the cap, before any of them is written."""
        if size < 0 or size > self.cap - self.used:
            raise _Unsafe(
                name,
                f"declares {size} bytes, which would bring the extracted files to "
                f"{self.used + size} bytes, more than the cap of {self.cap}",
            )
        self.used += size

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

    def file(self, name: str, data: IO[bytes], executable: bool, size: int) -> None:
        """Write at most the declared `size` bytes (counted against the cap first)."""
        self.take(name, size)
        dest = self.target(name)
        if dest is None:
            return
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := data.read(min(CHUNK, size + 1 - written)):
                written += len(chunk)
                if written > size:
                    raise _Unsafe(name, f"holds more than the {size} bytes its header declares")
                out.write(chunk)
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
    """A stream: the decompressed bytes read never pass the declared data plus headers."""
    with archive.open("rb") as raw:
        counted = CountedReader(decompressed(raw), HEADER_SLACK)
        with tarfile.open(fileobj=cast(IO[bytes], counted), mode="r|") as tf:
            while (member := tf.next()) is not None:  # not `for … in tf`: it starts over
                if member.issparse():
                    raise _Unsafe(member.name, f"is a sparse member (of {member.size} bytes)")
                data_size = member.size if member.isreg() else 0
                ex.member(member.name)
                counted.limit = counted.count + data_size + 2 * HEADER_SLACK
                _tar_member(tf, member, ex)


def _tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo, ex: _Extractor) -> None:
    if member.isdir():
        ex.directory(member.name)
    elif member.isreg():
        data = tf.extractfile(member)
        if data is None:  # pragma: no cover - a regular member always has data
            raise _Unsafe(member.name, "has no data")
        with data:
            ex.file(member.name, data, bool(member.mode & 0o111), member.size)
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
            ex.member(info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if info.is_dir() or kind == stat.S_IFDIR:
                ex.directory(info.filename)
            elif kind == stat.S_IFLNK:
                if info.file_size > MAX_LINK:
                    raise _Unsafe(info.filename, f"is a link of {info.file_size} bytes")
                with zf.open(info) as data:
                    link = data.read(MAX_LINK + 1)[:MAX_LINK]
                ex.symlink(info.filename, link.decode("utf-8", "surrogateescape"))
            elif kind in (0, stat.S_IFREG):
                with zf.open(info) as data:
                    ex.file(info.filename, data, bool(mode & 0o111), info.file_size)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                raise _Unsafe(info.filename, "is a device file")
            elif kind == stat.S_IFIFO:
                raise _Unsafe(info.filename, "is a fifo")
            else:
                raise _Unsafe(info.filename, f"has an unsupported file type {oct(kind)}")


def extract_archive(
    archive: Path,
    dest: Path,
    *,
    extract: str,
    strip: int,
    label: str,
    max_total: int | None = None,
) -> None:
    """Extract into the empty folder `dest`; an unsafe or unreadable archive is an error.

    The files may add up to `max_total` bytes (default: `size_cap` of the archive's size)."""
    _check_options(extract, strip, label)
    cap = size_cap(archive.stat().st_size) if max_total is None else max_total
    ex = _Extractor(dest, strip, cap)
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
    except Overflow as e:
        raise IntegrityError(
            f"refusing to extract {label}: it holds more data than its members declare "
            f"(stopped after {e.args[0]} bytes)",
            where=label,
            why="a damaged or hostile archive (a decompression bomb?)",
            hint="nothing was extracted; check where the archive comes from",
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
        write_listing(listing, document)
        return Tree(key=key, path=folder, digest=digest, files=files, size=size)


def write_listing(listing: Path, document: dict[str, object]) -> None:
    """A tree's listing, written atomically and last: a tree without one is rebuilt."""
    tmp = listing.with_name(f".{listing.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=0) + "\n", encoding="utf-8")
    os.replace(tmp, listing)


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
