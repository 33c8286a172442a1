"""Installed Python files checked against their wheel's RECORD (PEP 376 / PEP 427).

Every `*.dist-info/RECORD` in the venv's site-packages lists the files its wheel installed,
with `sha256=<urlsafe base64, no padding>` hashes. `verify_records` hashes each listed file and
reports changed and missing ones. RECORD is untrusted: a path is resolved against site-packages
and must stay inside the venv (`../../bin/x` scripts do; links are followed by `within`); one
that leaves it is reported and never read. Byte-code in `__pycache__` is not hashed by RECORD.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mlenv.names import UnsafePath, within

ALGORITHMS = ("sha256", "sha384", "sha512")
MAX_ROW = 4096  # characters of one RECORD row; longer ones are reported, not parsed


def site_packages(venv: Path) -> list[Path]:
    return sorted(venv.glob("lib*/python*/site-packages"))


def verify_records(venv: Path) -> list[str]:
    """Differences between every installed distribution's files and its RECORD."""
    out: list[str] = []
    seen: set[Path] = set()
    for site in site_packages(venv):
        for record in sorted(site.glob("*.dist-info/RECORD")):
            real = Path(os.path.realpath(record))
            if real in seen:
                continue
            seen.add(real)
            out.extend(verify_record(venv, site, record))
    return out


def _dist_name(record: Path) -> str:
    folder = record.parent.name.removesuffix(".dist-info")
    return folder.split("-", 1)[0] if "-" in folder else folder


def _rows(record: Path) -> Iterator[list[str]]:
    try:
        text = record.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    yield from csv.reader(text.splitlines())


def verify_record(venv: Path, site: Path, record: Path) -> list[str]:
    """The changed, missing and out-of-place files of one distribution."""
    dist = _dist_name(record)
    out: list[str] = []
    try:
        for row in _rows(record):
            if len(row) < 2 or not row[0] or not row[1]:
                continue  # RECORD itself, INSTALLER, … carry no hash
            problem = _check_row(venv, site, row[0], row[1])
            if problem:
                out.append(f"pypi {dist}: {problem}")
    except csv.Error as e:
        out.append(f"pypi {dist}: {record.name} is unreadable ({e})")
    return out


def _check_row(venv: Path, site: Path, name: str, hashed: str) -> str | None:
    shown = name if len(name) <= 200 else name[:200] + "…"
    if len(name) > MAX_ROW:
        return f"RECORD lists a path of {len(name)} characters (not read)"
    algorithm, _, expected = hashed.partition("=")
    if algorithm not in ALGORITHMS or not expected:
        return None  # an algorithm PEP 376 allows that mlenv does not check
    parts = name.replace("\\", "/").split("/")
    if "__pycache__" in parts and name.endswith(".pyc"):
        return None
    path = _inside(venv, site, name)
    if path is None:
        return f"RECORD lists {shown!r}, which lies outside the environment (not read)"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{shown} missing"
    except OSError as e:
        return f"{shown} unreadable ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown} is not a regular file (not read)"
    try:
        actual = _digest(path, algorithm)
    except OSError as e:
        return f"{shown} unreadable ({e.strerror})"
    if actual != expected:
        return f"{shown} changed (RECORD {algorithm}={expected}, found {algorithm}={actual})"
    return None


def _inside(venv: Path, site: Path, name: str) -> Path | None:
    """`name` (relative to site-packages) as a path inside the venv, or None when it leaves."""
    if "\x00" in name:
        return None
    joined = os.path.normpath(os.path.join(os.path.abspath(site), name))  # absolute stays so
    relative = os.path.relpath(joined, os.path.abspath(venv))
    if relative == os.curdir or relative.split(os.sep, 1)[0] == os.pardir:
        return None
    try:
        return within(venv, relative, what="RECORD entry")
    except UnsafePath:
        return None


def _digest(path: Path, algorithm: str) -> str:
    with path.open("rb") as f:
        h = hashlib.file_digest(f, algorithm)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")
