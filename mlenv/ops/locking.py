"""An exclusive lock per project: two `mlenv resolve` at once read-solve-write one after another.

`<project>/.mlenv/resolve.lock` is held (`fcntl.flock`, released by the kernel when the process
ends, killed or not) around reading the old lock, solving and writing the new one, so a second
`mlenv resolve --target B` reads what a first `--target A` wrote and the lock keeps both.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from mlenv.errors import MlenvError

LOCK_NAME = "resolve.lock"


@contextlib.contextmanager
def held(
    path: Path, *, waiting: Callable[[str], None], busy: str, what: str, hint: str
) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created, with its folder, when missing; released by
    the kernel when the process ends, killed or not); `waiting(busy)` is called once if another
    process holds it. `what` and `hint` word the error when the file cannot be opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise MlenvError(
            f"cannot take the {what} {path}",
            where=str(e.filename or path),
            why=e.strerror or str(e),
            hint=hint,
        ) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(busy)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def project_lock(
    project_dir: Path, *, waiting: Callable[[str], None], what: str = "mlenv resolve"
) -> contextlib.AbstractContextManager[None]:
    """Hold `<project>/.mlenv/resolve.lock`; `waiting(message)` is called once if another
    process holds it."""
    folder = project_dir / ".mlenv"
    path = folder / LOCK_NAME
    return held(
        path,
        waiting=waiting,
        busy=f"waiting for another {what} in this project ({path})",
        what="project lock",
        hint=f"{folder} must be a folder you can write to (move aside a file of that name)",
    )
