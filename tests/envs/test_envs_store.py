"""The content-addressed store: verified adds, read-only objects, corruption detection, and
several processes adding one object at once."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from mlenv.envs.store import Store, link_or_copy, md5_file, sha256_file
from mlenv.errors import IntegrityError

DATA = b"weights " * 40_000  # 320 kB: large enough that writers overlap


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hash_helpers_match_hashlib(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(DATA)
    assert sha256_file(f) == _sha(DATA)
    assert md5_file(f) == hashlib.md5(DATA, usedforsecurity=False).hexdigest()


def test_add_places_a_read_only_object_under_its_sha256(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    digest = _sha(DATA)
    assert not store.has(digest)
    obj = store.add(src, digest, "test object")
    assert obj == store.path(digest) == store.home / "store" / "sha256" / digest[:2] / digest
    assert store.has(digest)
    assert obj.read_bytes() == DATA
    assert not obj.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert src.exists(), "add without move keeps the source"
    assert store.verified(digest, "test object") == obj
    assert [p.name for p in obj.parent.iterdir()] == [digest], "no temporary files are left"


def test_add_with_move_consumes_the_source(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.part"
    src.write_bytes(DATA)
    obj = store.add(src, _sha(DATA), "moved", move=True)
    assert not src.exists()
    assert obj.read_bytes() == DATA


def test_add_refuses_bytes_that_do_not_match(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.part"
    src.write_bytes(DATA)
    wrong = _sha(b"other bytes")
    with pytest.raises(IntegrityError) as info:
        store.add(src, wrong, "artifact x of y", move=True)
    err = info.value
    assert "artifact x of y" in err.message
    assert wrong in (err.why or "") and _sha(DATA) in (err.why or "")
    assert err.hint
    assert not store.has(wrong)
    assert not src.exists(), "a rejected download is not kept"


def test_verified_detects_a_changed_object(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    digest = _sha(DATA)
    obj = store.add(src, digest, "obj")
    obj.chmod(0o644)
    with obj.open("r+b") as f:
        f.seek(100)
        f.write(b"X")
    with pytest.raises(IntegrityError) as info:
        store.verified(digest, "artifact m of p")
    err = info.value
    assert "artifact m of p" in err.message
    assert digest in (err.why or "")
    assert sha256_file(obj) in (err.why or "")
    assert str(obj) in (err.where or "") + (err.hint or "")


def test_link_or_copy_hard_links(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    obj = store.add(src, _sha(DATA), "obj")
    dest = tmp_path / "env" / "artifacts" / "pkg" / "file.bin"
    link_or_copy(obj, dest)
    assert dest.read_bytes() == DATA
    assert os.stat(dest).st_ino == os.stat(obj).st_ino


def test_temp_path_is_one_per_key(store: Store) -> None:
    """One partial file per object (guarded by the object's lock), so the next process that
    takes the lock resumes it instead of leaking it."""
    part = store.temp_path("abc")
    assert part.parent == store.tmp and part.parent.is_dir()
    assert store.temp_path("abc") == part
    assert store.temp_path("abd") != part
    assert str(os.getpid()) not in part.name


# -- several processes -----------------------------------------------------------------------------


def _add_many(home: str, source: str, digest: str, rounds: int, barrier: object) -> None:
    store = Store(Path(home))
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(rounds):
        with store.lock(digest):
            if not store.has(digest):
                store.add(Path(source), digest, "shared object")
            store.verified(digest, "shared object")


def test_two_processes_adding_the_same_object_both_succeed(store: Store, tmp_path: Path) -> None:
    digest = _sha(DATA)
    sources = []
    for i in range(2):
        src = tmp_path / f"src{i}.bin"
        src.write_bytes(DATA)
        sources.append(src)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_add_many, args=(str(store.home), str(src), digest, 20, barrier))
        for src in sources
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert store.has(digest)
    assert sha256_file(store.path(digest)) == digest
    assert [p.name for p in store.path(digest).parent.iterdir()] == [digest]


def _add_unlocked(home: str, source: str, digest: str, rounds: int, barrier: object) -> None:
    store = Store(Path(home))
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(rounds):
        store.add(Path(source), digest, "racing object")


def test_racing_adds_without_the_lock_still_leave_one_intact_object(
    store: Store, tmp_path: Path
) -> None:
    """Even writers that skip the lock never expose a half-written object: each writes a
    private temporary file and renames it into place."""
    digest = _sha(DATA)
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    procs = [
        ctx.Process(target=_add_unlocked, args=(str(store.home), str(src), digest, 15, barrier))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sha256_file(store.path(digest)) == digest
    assert [p.name for p in store.path(digest).parent.iterdir()] == [digest]
