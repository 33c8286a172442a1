"""Store garbage collection: what is kept (anything a lock or an env.json references), what
goes (objects, extracted trees, md5 entries, partials), the store-wide lock, env removal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from mlenv.envs.archives import tree_key, tree_paths
from mlenv.envs.gc import (
    References,
    collect_garbage,
    disk_usage,
    env_references,
    lock_references,
    project_envs,
    remove_env,
    stale_builds,
)
from mlenv.envs.store import Store
from mlenv.errors import InstallError
from mlenv.lock import ArtifactPin, Lock, LockTarget, PypiPin


def put(store: Store, data: bytes, helpers: ModuleType) -> str:
    sha = helpers.sha256(data)
    src = store.home / "src.bin"
    src.write_bytes(data)
    with store.lock(sha):
        store.add(src, sha, "test", move=True)
    return sha


def fake_tree(store: Store, key: str) -> None:
    folder, listing = tree_paths(store, key)
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_bytes(b"tree file")
    listing.write_text('{"version": 1}\n')


def lock_with(**artifact: object) -> Lock:
    section = LockTarget(
        name="t",
        facts={},
        pypi=(PypiPin(name="a", version="1", url="https://x/a.whl", sha256="a" * 64),),
        artifacts=(ArtifactPin(name="m", package="p", **artifact),),  # type: ignore[arg-type]
    )
    return Lock(manifest="sha256:0", recipes="sha256:0", targets={"t": section})


def test_references_of_locks_and_env_json() -> None:
    refs = lock_references(lock_with(sha256="b" * 64, extract="tar", strip=1))
    assert refs.objects == {"a" * 64, "b" * 64}
    assert refs.trees == {tree_key("b" * 64, "tar", 1)}
    md5 = lock_references(lock_with(md5="c" * 32, extract="zip"))
    assert md5.md5 == {"c" * 32} and md5.archives_md5 == {("c" * 32, "zip", 0)}
    wheel_file = lock_references(lock_with(sha256="d" * 64, member="x/y", member_sha256="e" * 64))
    assert {"d" * 64, "e" * 64} <= wheel_file.objects
    info = {
        "pypi": {"a": {"version": "1", "sha256": "1" * 64}},
        "conda": {"c": {"sha256": "2" * 64}},
        "artifacts": {
            "p/m": {"path": "p/m", "sha256": "3" * 64, "tree": "k"},
            "p/l": {"local": "V"},
        },
    }
    refs = env_references(info)
    assert refs.objects == {"1" * 64, "2" * 64, "3" * 64} and refs.trees == {"k"}


def test_gc_keeps_what_is_referenced_and_removes_the_rest(
    store: Store, helpers: ModuleType
) -> None:
    kept = put(store, b"kept by a lock", helpers)
    by_md5 = put(store, b"kept through the md5 index", helpers)
    store.remember_md5(helpers.md5(b"kept through the md5 index"), by_md5)
    junk = put(store, b"junk" * 1000, helpers)
    store.remember_md5("f" * 32, junk)
    kept_tree, junk_tree = tree_key(kept, "tar", 0), tree_key(junk, "zip", 2)
    fake_tree(store, kept_tree)
    fake_tree(store, junk_tree)
    store.tmp.mkdir(parents=True, exist_ok=True)
    (store.tmp / ("9" * 64 + ".part")).write_bytes(b"half a download")
    (store.path(kept).parent / f".{kept}.12345.tmp").write_bytes(b"killed mid-add")
    refs = References(
        objects={kept}, trees={kept_tree}, md5={helpers.md5(b"kept through the md5 index")}
    )

    dry = collect_garbage(store, lambda: refs, dry_run=True)
    kinds = sorted((r.kind, r.path.name) for r in dry.removed)
    assert kinds == sorted(
        [("object", junk), ("md5", "f" * 32), ("tree", junk_tree), ("tree", junk_tree + ".json"),
         ("partial", "9" * 64 + ".part"), ("partial", f".{kept}.12345.tmp")]
    )  # fmt: skip
    assert store.has(junk) and (store.tmp / ("9" * 64 + ".part")).exists(), "dry run: untouched"
    assert dry.totals()["object"] == {"count": 1, "size": 4000, "freed": 4000}

    report = collect_garbage(store, lambda: refs)
    assert [r.path for r in report.removed] == [r.path for r in dry.removed]
    assert report.freed >= 4000 + len(b"half a download")
    assert store.has(kept) and store.has(by_md5) and not store.has(junk)
    assert store.sha256_for_md5(helpers.md5(b"kept through the md5 index")) == by_md5
    assert not (store.md5_index / ("f" * 32)).exists()
    assert tree_paths(store, kept_tree)[0].is_dir() and not tree_paths(store, junk_tree)[0].exists()
    assert list(store.tmp.iterdir()) == []
    assert not store.path(junk).parent.exists(), "empty prefix folders go too"
    assert report.kept == {"objects": 2, "trees": 1}
    assert collect_garbage(store, lambda: refs).removed == [], "a second gc finds nothing"


def test_an_object_still_linked_from_an_env_frees_no_disk(
    store: Store, tmp_path: Path, helpers: ModuleType
) -> None:
    sha = put(store, b"linked" * 100, helpers)
    os.link(store.path(sha), tmp_path / "placed")
    (removed,) = collect_garbage(store, References).removed
    assert removed.size == 600 and removed.freed == 0
    assert (tmp_path / "placed").read_bytes() == b"linked" * 100


HOLDER = """
import sys, time
from pathlib import Path
from mlenv.envs.store import Store
store = Store(Path(sys.argv[1]))
with store.lock("some-object"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_gc_waits_for_a_process_using_the_store(store: Store, helpers: ModuleType) -> None:
    junk = put(store, b"junk", helpers)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.home), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        waited: list[float] = []
        started = time.monotonic()
        report = collect_garbage(store, References, waiting=lambda: waited.append(1))
        assert waited == [1] and time.monotonic() - started > 0.3
        assert [r.path.name for r in report.removed if r.kind == "object"] == [junk]
        assert holder.wait(10) == 0
    finally:
        holder.kill()


def test_gc_gives_up_on_a_store_that_stays_busy(store: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.home), "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(InstallError) as info:
            collect_garbage(store, References, timeout=0.3)
        assert "busy" in info.value.message and info.value.hint
    finally:
        holder.kill()
        holder.wait()
    with store.lock("after"):  # the shared lock is held again: the store is usable
        pass


def test_envs_disk_usage_and_removal(store: Store, tmp_path: Path, helpers: ModuleType) -> None:
    project = tmp_path / "proj"
    env = project / ".mlenv" / "envs" / "linux-x"
    (env / "venv").mkdir(parents=True)
    (env / "env.json").write_text('{"lock": "sha256:1", "target": "linux-x"}')
    (env / "venv" / "own.py").write_bytes(b"x" * 1000)
    sha = put(store, b"y" * 5000, helpers)
    os.link(store.path(sha), env / "venv" / "shared.bin")
    os.link(env / "venv" / "own.py", env / "venv" / "own-again.py")  # counted once
    (project / ".mlenv" / "envs" / ".linux-x.tmp-999999999").mkdir()
    (project / ".mlenv" / "envs" / f".linux-x.tmp-{os.getpid()}").mkdir()
    (envs,) = project_envs(project)
    assert (envs.target, envs.lock) == ("linux-x", "sha256:1")
    usage = disk_usage(env)
    assert usage.size >= 6000 and 1000 <= usage.exclusive < 5000
    assert [p.name for p in stale_builds(project)] == [".linux-x.tmp-999999999"]
    remove_env(env, store)
    assert not env.exists() and project_envs(project) == []
    assert not (project / ".mlenv" / "envs" / ".linux-x.old").exists()
    assert store.path(sha).read_bytes() == b"y" * 5000
    with pytest.raises(InstallError):
        remove_env(env, store)


def test_wheel_links_are_stable_and_go_with_their_objects(
    store: Store, helpers: ModuleType
) -> None:
    sha = put(store, b"wheel bytes" * 10, helpers)
    link = store.wheel_link(sha, "w-1.0-py3-none-any.whl")
    assert link == store.wheels / sha / "w-1.0-py3-none-any.whl"
    assert os.stat(link).st_ino == os.stat(store.path(sha)).st_ino
    assert store.wheel_link(sha, "w-1.0-py3-none-any.whl") == link
    assert collect_garbage(store, lambda: References(objects={sha})).removed == []
    report = collect_garbage(store, References)
    assert sorted(r.kind for r in report.removed) == ["link", "object"]
    assert report.freed == 110, "one inode, freed once both of its links go"
    assert not store.wheels.joinpath(sha).exists() and not store.has(sha)
