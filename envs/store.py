"""The content-addressed store under MLENV_HOME: sha256 -> file, verified before use.

Objects are written to a temporary name and renamed into place under a per-object file lock,
so concurrent mlenv processes share one store safely. Objects are read-only once stored.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from mlenv.errors import InstallError, IntegrityError

CHUNK = 1 << 20
STORE_LOCK = "_store.lock"  # shared while a process uses the store; `mlenv env gc` takes it alone


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def md5_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


FICLONE = 0x40049409  # Linux ioctl: share the source's blocks, copy-on-write (btrfs, xfs, …)
LINK_KINDS = ("reflink", "hardlink", "copy")
_CANNOT_CLONE = {
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EXDEV,
    errno.EINVAL,
    errno.ENOTTY,
    errno.ENOSYS,
}
_NO_REFLINK: set[tuple[int, int]] = set()  # (src device, dest device) pairs that cannot clone


def _reflink(src: Path, dest: Path) -> bool:
    """A copy-on-write clone of `src` at `dest` (a new inode: writing it never changes `src`);
    False where the file system cannot (dest is then left absent)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        devices = (os.stat(src).st_dev, os.stat(dest.parent).st_dev)
    except OSError:
        return False
    if devices in _NO_REFLINK:
        return False
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    try:
        with src.open("rb") as source:
            fcntl.ioctl(fd, FICLONE, source.fileno())
        os.fchmod(fd, stat.S_IMODE(os.stat(src).st_mode))
    except OSError as e:
        os.close(fd)
        dest.unlink(missing_ok=True)
        if e.errno in _CANNOT_CLONE:  # this pair of file systems never will: stop trying
            _NO_REFLINK.add(devices)
        return False
    os.close(fd)
    return True


def link_or_copy(src: Path, dest: Path) -> str:
    """Place `src` at `dest`: a reflink where the file system can clone (writing the file then
    leaves the store object alone), else a hard link, else a copy (across devices). Returns
    which one: "reflink", "hardlink" or "copy"."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _reflink(src, dest):
        return "reflink"
    try:
        os.link(src, dest)
        return "hardlink"
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dest)
        return "copy"


class Store:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.objects = home / "store" / "sha256"
        self.locks = home / "store" / "locks"
        self.tmp = home / "store" / "tmp"
        self.trees = home / "store" / "trees"  # extracted archives, by (sha256, extract, strip)
        self.md5_index = home / "store" / "md5"
        self.wheels = home / "store" / "wheels"  # <sha256>/<wheel filename>: links for uv
        self._whole: IO[str] | None = None  # the store-wide lock's file, opened on first use

    def path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def _whole_lock(self) -> IO[str]:
        if self._whole is None:
            self.locks.mkdir(parents=True, exist_ok=True)
            self._whole = (self.locks / STORE_LOCK).open("a+")
            weakref.finalize(self, self._whole.close)
            fcntl.flock(self._whole, fcntl.LOCK_SH)
        return self._whole

    @contextlib.contextmanager
    def exclusive(
        self, *, timeout: float = 600.0, waiting: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """The whole store for this process alone (gc): waits until no other process uses it.

        Every process that uses the store holds the store-wide lock shared from its first
        `lock()` until its Store object is freed, so nothing in use can disappear under it.
        """
        f = self._whole_lock()
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waiting is not None:
                    waiting()
                    waiting = None
                if time.monotonic() > deadline:
                    fcntl.flock(f, fcntl.LOCK_SH)  # a failed conversion dropped the shared lock
                    raise InstallError(
                        f"the store at {self.home} stayed busy for {timeout:.0f} s",
                        why="other mlenv processes are installing from it",
                        hint="run the command again once they are done",
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_SH)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        self._whole_lock()
        with (self.locks / f"{key}.lock").open("a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def temp_path(self, key: str) -> Path:
        """The partial download of `key`; callers hold `lock(key)`, so the next process to take
        the lock resumes it (or replaces it) rather than leaking it."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"{key}.part"

    def wheel_link(self, sha256: str, filename: str) -> Path:
        """`store/wheels/<sha256>/<filename>`: the object linked under its wheel's name at a
        path that never changes, for `uv pip sync --find-links` (uv keys its cache of unpacked
        wheels by path: a new wheelhouse per build unpacks every wheel again)."""
        dest = self.wheels / sha256 / filename
        if not dest.is_file():
            with self.lock(sha256):
                if not dest.is_file():
                    tmp = dest.with_name(f".{filename}.{os.getpid()}.tmp")
                    tmp.unlink(missing_ok=True)
                    link_or_copy(self.path(sha256), tmp)
                    os.replace(tmp, dest)
        return dest

    def sha256_for_md5(self, md5: str) -> str | None:
        """The sha256 an md5-pinned artifact was stored under, when it was stored before."""
        try:
            sha = (self.md5_index / md5).read_text(encoding="ascii").strip()
        except OSError:
            return None
        return sha if self.has(sha) else None

    def remember_md5(self, md5: str, sha256: str) -> None:
        folder = self.md5_index
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{md5}.{os.getpid()}.tmp"
        tmp.write_text(sha256 + "\n", encoding="ascii")
        os.replace(tmp, folder / md5)

    def verified(self, sha256: str, what: str) -> Path:
        """The object's path after re-hashing it; a changed object is an IntegrityError."""
        path = self.path(sha256)
        actual = sha256_file(path)
        if actual != sha256:
            raise IntegrityError(
                f"store object for {what} is corrupted",
                where=str(path),
                why=f"expected sha256 {sha256}\n     got sha256 {actual}",
                hint=f"delete {path} and run the command again to download it anew",
                details={"artifact": what, "expected": sha256, "actual": actual, "path": str(path)},
            )
        return path

    def add(self, src: Path, sha256: str, what: str, *, move: bool = False) -> Path:
        """Put `src` into the store after checking its sha256 (caller holds the lock)."""
        actual = sha256_file(src)
        if actual != sha256:
            if move:
                src.unlink(missing_ok=True)
            raise IntegrityError(
                f"sha256 mismatch for {what}",
                why=f"expected sha256 {sha256}\n     got sha256 {actual}",
                hint="the recipe or lock pins other bytes than the source serves: check the "
                "recipe's sha256 (never edit a lock by hand), or the mirror",
                details={"artifact": what, "expected": sha256, "actual": actual},
            )
        dest = self.path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{sha256}.{os.getpid()}.tmp")
        if move:
            os.replace(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        tmp.chmod(0o444)
        os.replace(tmp, dest)
        return dest

    # -- projects that installed from this store (`mlenv env gc` keeps what they use) --------

    @property
    def projects(self) -> Path:
        return self.home / "store" / "projects"

    def remember_project(self, project: Path) -> None:
        """Record `project` (its absolute folder) under `store/projects/<sha256 of the path>`,
        atomically; nothing is written when it is recorded already."""
        raw = os.fsencode(str(project.absolute()))
        dest = self.projects / hashlib.sha256(raw).hexdigest()
        with contextlib.suppress(OSError):
            if dest.read_bytes() == raw:
                return
        self.projects.mkdir(parents=True, exist_ok=True)
        tmp = self.projects / f".{dest.name}.{os.getpid()}.tmp"
        tmp.write_bytes(raw)
        os.replace(tmp, dest)

    def remembered_projects(self) -> dict[str, Path]:
        """record name -> project folder, for each well-formed record (the name is the sha256
        of the absolute path it holds); the paths are data: read from them, never delete."""
        out: dict[str, Path] = {}
        if not self.projects.is_dir():
            return out
        for entry in sorted(self.projects.iterdir()):
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_file():
                continue
            try:
                raw = entry.read_bytes()[:65536]
            except OSError:
                continue
            path = Path(os.fsdecode(raw))
            if hashlib.sha256(raw).hexdigest() == entry.name and path.is_absolute():
                out[entry.name] = path
        return out

    def forget_project(self, name: str) -> None:
        """Drop one record (by its name in `store/projects/`)."""
        if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
            (self.projects / name).unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process exists (leftovers of dead processes may be swept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def env_lock_key(env_dir: Path) -> str:
    """The store lock one environment folder is built (and removed) under."""
    return "env-" + hashlib.sha256(str(env_dir.absolute()).encode()).hexdigest()[:16]
