"""Before/after listings of a folder: proof that a hostile input changed nothing outside the
roots mlenv may write to."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

Listing = dict[str, tuple[str, int, str]]


def listing(root: Path) -> Listing:
    """relative path -> (kind, mode, content digest or link target) of everything below root."""
    out: Listing = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = path.lstat()
            if path.is_symlink():
                out[rel] = ("link", st.st_mode, os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", st.st_mode, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", st.st_mode, digest)
    return out


def make_sentinel(root: Path) -> Path:
    """A folder with a file, a nested folder and a read-only file: things an attack would hit."""
    (root / "keep" / "nested").mkdir(parents=True, exist_ok=True)
    (root / "keep" / "precious.txt").write_text("do not touch\n", encoding="utf-8")
    (root / "keep" / "nested" / "data.bin").write_bytes(b"\x00\x01sentinel")
    return root


def assert_unchanged(root: Path, before: Listing) -> None:
    after = listing(root)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    assert not (added or removed or changed), (
        f"outside the allowed roots: added {added}, removed {removed}, changed {changed}"
    )
