"""One grammar for every name that becomes a path, and one join that never leaves its root.

Locks, bundles, recipe folders and target files may come from strangers. Any name read from
them that ends up in a file system path (a lock section, a package, an artifact, a hash, a
bundle member, an environment variable that names a target) is checked here when the file is
loaded, and every join under the project, an environment or `MLENV_HOME` goes through
`within()`, which refuses to leave its root (after resolving `..` and symbolic links).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from .errors import MlenvError

# a single path component: no separators, no leading dot (so never `.` or `..`), printable
COMPONENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MD5_RE = re.compile(r"[0-9a-f]{32}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# a relative path of components (artifact files inside an archive, bundle members)
_MAX_PATH = 1024


class UnsafePath(MlenvError):
    """A name that would leave its root, or is not a valid name for a path component."""

    kind = "unsafe-path"


def component_problem(value: object) -> str | None:
    """Why `value` cannot be one path component (None when it can)."""
    if not isinstance(value, str):
        return f"expected a name, got {type(value).__name__}"
    if not COMPONENT_RE.fullmatch(value):
        return (
            f"{value!r} is not a valid name here: use letters, digits and . _ + - "
            "(at most 128, not starting with '.' or '-'; no '/' or '..')"
        )
    return None


def relpath_problem(value: object) -> str | None:
    """Why `value` cannot be a relative POSIX path of safe components (None when it can)."""
    if not isinstance(value, str) or not value:
        return "expected a relative path"
    if len(value) > _MAX_PATH:
        return f"a path of {len(value)} characters (at most {_MAX_PATH})"
    if "\\" in value or "\x00" in value or any(ord(c) < 32 for c in value):
        return f"{value!r} holds a backslash or a control character"
    if value.startswith("/"):
        return f"{value!r} is an absolute path; only paths relative to their folder are allowed"
    parts = PurePosixPath(value).parts
    if not parts or any(p in ("..", ".") for p in value.split("/")):
        return f"{value!r} has '.' or '..' segments"
    return None


def hex_problem(value: object, kind: str = "sha256") -> str | None:
    pattern = SHA256_RE if kind == "sha256" else MD5_RE
    if not isinstance(value, str) or not pattern.fullmatch(value):
        length = 64 if kind == "sha256" else 32
        return f"{value!r} is not a {kind} ({length} lowercase hex digits)"
    return None


def check_component(value: str, where: str) -> str:
    """`value` when it is a safe path component, else an UnsafePath error naming `where`."""
    problem = component_problem(value)
    if problem:
        raise UnsafePath(
            f"invalid name at {where}", where=where, why=problem, hint="fix or re-create the file"
        )
    return value


def _is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def within(root: Path, *parts: str, what: str = "path") -> Path:
    """`root / parts…`, refused unless it stays inside `root` (resolved, links included).

    Every part must be relative; the result is checked after resolving symbolic links of
    everything that already exists, so a link planted inside the root cannot lead out of it.
    """
    for part in parts:
        if not part or os.path.isabs(part) or "\x00" in part:
            raise UnsafePath(
                f"refusing {what} {part!r}: not a relative name",
                why=f"it would be placed outside {root}",
            )
    candidate = Path(root, *parts)
    root_real = os.path.realpath(root)
    real = os.path.realpath(candidate)
    if not _is_inside(real, root_real):
        raise UnsafePath(
            f"refusing {what} {'/'.join(parts)!r}: it leads outside {root}",
            why=f"it resolves to {real}",
            hint="the file that named it is damaged or hostile; re-create it",
        )
    return candidate
