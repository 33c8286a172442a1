"""Unpacking a bundle someone else made: bounded, checked before anything is written.

The archive is read as a stream (gzip, bzip2 and xz decompressed here, under a byte counter):

1. its first member must be `bundle.json` (at most MAX_MANIFEST bytes), parsed and validated
   strictly (`BundleManifest.from_dict`: safe relative paths, hex hashes, sizes within range,
   no duplicates, a total within MAX_TOTAL);
2. every following member must be a regular file listed there (no sparse members, links,
   devices or fifos; folder entries are skipped, folders are made as needed), seen once, whose
   header size equals the declared size; it is written while hashed, never past that size;
3. the decompressed stream may not exceed what bundle.json declares (plus tar headers), so a
   decompression bomb stops at the declared sizes.

Everything is written into a staging folder beside `dest`, renamed into place only when every
file is present with its sha256; any refusal removes the staging folder.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any, cast

from mlenv.errors import IntegrityError, MlenvError, Problem
from mlenv.names import relpath_problem, within

from .archives import CountedReader, Overflow, decompressed
from .bundle import (
    _NEVER_REPAIR,
    BUNDLE_FILE,
    MAX_MANIFEST,
    BundleFile,
    BundleManifest,
    hash_problem,
    parse_manifest,
    verification_error,
)
from .store import CHUNK

HEADER_SLACK = 64 << 10  # per member: its tar header, a pax header, padding, read-ahead
STREAM_SLACK = 1 << 20  # the end of the archive and the reader's buffer


class _Refused(Exception):
    def __init__(self, member: str, why: str, field: str | None = None) -> None:
        super().__init__(why)
        self.member, self.why, self.field = member, why, field


def _kind(member: tarfile.TarInfo) -> str | None:
    """Why the member cannot be a bundle file (None: a regular file)."""
    if member.issparse():
        return f"is a sparse member (expanding to {member.size} bytes)"
    if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
        return None
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a fifo"
    return f"has the tar type {member.type!r}, not a regular file"


def _read_head(tar: tarfile.TarFile) -> bytes:
    first = tar.next()
    if first is None or first.name != BUNDLE_FILE:
        name = "nothing" if first is None else repr(first.name)
        raise _Refused(
            first.name if first else BUNDLE_FILE,
            f"is where {BUNDLE_FILE} must be: the archive starts with {name}, not {BUNDLE_FILE}",
        )
    problem = _kind(first)
    if problem or first.size > MAX_MANIFEST:
        raise _Refused(BUNDLE_FILE, problem or f"is {first.size} bytes (at most {MAX_MANIFEST})")
    source = tar.extractfile(first)
    assert source is not None  # a regular member always has data
    with source:
        return source.read(MAX_MANIFEST + 1)


def _write(tar: tarfile.TarInfo, source: IO[bytes], target: Path, declared: BundleFile) -> str:
    """Copy at most the declared size while hashing; returns the sha256."""
    h = hashlib.sha256()
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(min(CHUNK, declared.size + 1 - written)):
            written += len(chunk)
            if written > declared.size:
                raise _Refused(tar.name, f"holds more than its declared {declared.size} bytes")
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def _members(
    tar: tarfile.TarFile, stage: Path, manifest: BundleManifest
) -> tuple[list[Problem], list[dict[str, Any]]]:
    index = {f.path: (i, f) for i, f in enumerate(manifest.files)}
    seen: set[str] = set()
    problems: list[Problem] = []
    details: list[dict[str, Any]] = []
    while (member := tar.next()) is not None:  # not `for … in tar`: it starts over
        name = member.name
        if problem := relpath_problem(name):
            raise _Refused(name, f"is not a safe relative path: {problem}")
        if member.isdir():
            continue  # folders are made as their files need them
        if problem := _kind(member):
            raise _Refused(name, problem)
        if name in seen or name == BUNDLE_FILE:
            raise _Refused(name, "appears twice in the archive")
        seen.add(name)
        if name not in index:
            raise _Refused(name, f"is not listed in {BUNDLE_FILE}")
        i, declared = index[name]
        if member.size != declared.size:
            raise _Refused(
                name,
                f"is {member.size} bytes, but {BUNDLE_FILE} declares {declared.size}",
                f"files[{i}].size",
            )
        target = within(stage, *name.split("/"), what="bundle member")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None  # a regular member always has data
        with source:
            actual = _write(member, source, target, declared)
        if actual != declared.sha256:
            mismatch, detail = hash_problem(declared, actual)
            problems.append(mismatch)
            details.append(detail)
    for f in manifest.files:
        if f.path not in seen:
            problems.append(Problem(where=f.path, message="missing from the bundle"))
            details.append({"path": f.path, "expected": f.sha256, "actual": None})
    return problems, details


def _unpack(archive: Path, stage: Path) -> BundleManifest:
    with archive.open("rb") as raw:
        counted = CountedReader(decompressed(raw), MAX_MANIFEST + STREAM_SLACK)
        with tarfile.open(fileobj=cast(IO[bytes], counted), mode="r|") as tar:
            head = _read_head(tar)
            manifest = parse_manifest(head, f"{archive}: {BUNDLE_FILE}")
            (stage / BUNDLE_FILE).write_bytes(head)
            counted.limit = (
                counted.count
                + manifest.total_size
                + HEADER_SLACK * (len(manifest.files) + 1)
                + STREAM_SLACK
            )
            problems, details = _members(tar, stage, manifest)
    if problems:
        raise verification_error(problems, details, str(archive))
    return manifest


def unpack_bundle(archive: Path, dest: Path) -> BundleManifest:
    """Extract the files bundle.json lists into `dest` (new or empty), each checked against
    its declared size and sha256; returns the verified description. On any refusal nothing of
    the unpack remains."""
    hint = f"is {archive} the file `mlenv pack` wrote? {_NEVER_REPAIR}"
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise IntegrityError(
            f"cannot unpack {archive.name} into {dest}: it exists and is not empty",
            hint="pass a new or empty folder",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        manifest = _unpack(archive, stage)
        if dest.exists():
            dest.rmdir()
        os.replace(stage, dest)
        return manifest
    except _Refused as e:
        field = f" (bundle.json field {e.field})" if e.field else ""
        raise IntegrityError(
            f"refusing the bundle {archive.name}: member {e.member!r} {e.why}{field}",
            where=str(archive),
            why="a bundle holds exactly the plain files its bundle.json lists, at their sizes; "
            "nothing from it was installed",
            hint=hint,
            details={"member": e.member, "reason": e.why, "field": e.field},
        ) from None
    except Overflow as e:
        raise IntegrityError(
            f"refusing the bundle {archive.name}: it holds more data than its {BUNDLE_FILE} "
            f"declares (stopped after {e.args[0]} bytes)",
            where=str(archive),
            why="a damaged or hostile archive (a decompression bomb?); nothing was installed",
            hint=hint,
        ) from None
    except MlenvError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise IntegrityError(
            f"{archive} is not a readable mlenv bundle (damaged, or not a tar archive)",
            why=str(e),
            hint=hint,
        ) from e
    finally:
        shutil.rmtree(stage, ignore_errors=True)
