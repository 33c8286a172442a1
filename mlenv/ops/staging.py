"""Result folders replaced whole: a run writes into a temporary sibling, renamed into place.

`results/…/performance/run_1/` is written as `.run_1.tmp-<pid>/` and only moved into place once
the harness exited 0 and wrote its result.json; the previous folder is renamed aside
(`.run_1.old-<pid>`), the new one renamed in, the old one removed (as `envs/materialize._swap`
does for environments). An interrupted or failed run leaves the previous result whole; what a
killed mlenv left behind (the pid in the name is no longer alive) is swept by the next run.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from mlenv.envs.store import process_alive  # TODO: a later refactor moves it out of envs
from mlenv.errors import RunError

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")


def staging_dir(final: Path) -> Path:
    """The temporary sibling this process writes `final`'s new contents into."""
    return final.parent / f".{final.name}.tmp-{os.getpid()}"


def sweep(final: Path) -> list[Path]:
    """Remove the temporary and set-aside siblings of `final` left by processes now dead.

    A set-aside previous folder (`.NAME.old-PID`) whose swap never finished is put back when
    `final` is missing, so a kill between the two renames loses nothing. Returns what was
    removed.
    """
    removed: list[Path] = []
    try:
        siblings = sorted(final.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for path in siblings:
        m = _LEFTOVER.match(path.name)
        if m is None or m["name"] != final.name:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or process_alive(pid):
            continue
        if m["kind"] == "old" and not final.exists() and path.is_dir():
            os.replace(path, final)
            continue
        _remove(path)
        removed.append(path)
    return removed


def prepare(final: Path) -> Path:
    """Sweep old leftovers of `final`, then make an empty staging folder beside it."""
    staging = staging_dir(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        sweep(final)
        _remove(staging)
        staging.mkdir()
    except OSError as e:
        raise RunError(
            f"cannot write the results into {final.parent}",
            where=str(e.filename or final.parent),
            why=e.strerror or str(e),
            hint="results/ and every folder below it must be folders you can write to "
            "(move aside a file of the same name)",
        ) from e
    return staging


def publish(staging: Path, final: Path) -> None:
    """Put `staging` in place of `final`: old aside, new in, old removed."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    _remove(old)
    if final.exists() or final.is_symlink():
        os.replace(final, old)
    os.replace(staging, final)
    _remove(old)


def discard(staging: Path) -> None:
    _remove(staging)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)
