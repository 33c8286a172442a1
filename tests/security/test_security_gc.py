"""`mlenv env gc` never deletes store objects another project still uses: every install records
its project in the store (`store/projects/<sha256 of the path>`), gc counts every remembered
project whose folder is still a project, and forgets the others. A record is data: gc reads
that project's lock and env.json, and deletes nothing outside the store because of it."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sentinel as _sentinel


def gc(project: Any, mlenv: Callable[..., Any], *args: str) -> dict[str, Any]:
    result = mlenv(project, "env", "gc", "--json", *args)
    assert result.returncode == 0, str(result)
    doc: dict[str, Any] = json.loads(result.stdout)["data"]
    return doc


def record(home: Path, path: Path) -> Path:
    return home / "store" / "projects" / hashlib.sha256(str(path).encode()).hexdigest()


def two_projects(make_project: Callable[..., Any], mlenv: Callable[..., Any]) -> tuple[Any, Any]:
    one = make_project("one", requires=("tinybeta",))
    two = make_project("two", requires=("remotemodel", "tinytable"))
    for p in (one, two):
        result = mlenv(p, "install")
        assert result.returncode == 0, str(result)
    return one, two


def test_installs_remember_their_project(
    make_project: Callable[..., Any], mlenv: Callable[..., Any]
) -> None:
    one, two = two_projects(make_project, mlenv)
    assert one.home == two.home
    for p in (one, two):
        assert record(p.home, p.root).read_text(encoding="utf-8") == str(p.root)


def test_gc_keeps_what_other_projects_use_until_they_are_gone(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any, wheels: Any
) -> None:
    one, two = two_projects(make_project, mlenv)
    model = two.store_object(helpers.sha256(helpers.MODEL_BIN))
    tinydata = two.store_object(wheels.get("tinydata", "1.0").sha256)
    tinybeta = one.store_object(wheels.get("tinybeta", "1.0").sha256)
    assert model.exists() and tinydata.exists() and tinybeta.exists()

    doc = gc(one, mlenv)  # from project one, no arguments
    assert str(two.root) in doc["projects"]
    assert model.exists() and tinydata.exists() and tinybeta.exists()
    assert gc(one, mlenv, "--dry-run", "--only")["removed"]["object"]["count"] >= 2
    assert model.exists() and tinydata.exists()  # a dry run deletes nothing

    shutil.rmtree(two.root)
    doc = gc(one, mlenv)
    assert str(two.root) not in doc["projects"]
    assert not model.exists() and not tinydata.exists()
    assert tinybeta.exists()
    assert not record(two.home, two.root).exists(), "a project that is gone is forgotten"
    assert record(one.home, one.root).exists()


def test_gc_only_keeps_todays_meaning(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    one, two = two_projects(make_project, mlenv)
    model = two.store_object(helpers.sha256(helpers.MODEL_BIN))
    doc = gc(one, mlenv, "--only")
    assert doc["projects"] == [str(one.root)]
    assert not model.exists()
    assert record(two.home, two.root).exists(), "--only forgets nobody"
    # naming project two (without --only) keeps it, as the remembered record does
    assert mlenv(two, "install", "--force").returncode == 0
    assert model.exists()
    gc(one, mlenv, str(two.root))
    assert model.exists()


def test_a_remembered_path_is_only_read(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], tmp_path: Path
) -> None:
    """A record naming a folder outside, with what gc sweeps in a project (a build folder of a
    dead process): gc reads it and deletes nothing there; a record whose name is not the hash
    of its content is ignored."""
    one = make_project("one", requires=("tinybeta",))
    assert mlenv(one, "install").returncode == 0
    victim = _sentinel.make_sentinel(tmp_path / "victim")
    (victim / ".mlenv" / "envs" / ".linux.tmp-999999").mkdir(parents=True)
    (victim / ".mlenv" / "envs" / ".linux.tmp-999999" / "f").write_text("x", encoding="utf-8")
    (victim / "mlenv.lock").write_text("not: [a lock\n", encoding="utf-8")
    before = _sentinel.listing(victim)
    rec = record(one.home, victim)
    rec.write_text(str(victim), encoding="utf-8")
    result = mlenv(one, "env", "gc")
    assert result.returncode == 1, str(result)  # its lock is unreadable: gc keeps everything
    assert "--only" in result.err and "mlenv.lock" in result.err
    _sentinel.assert_unchanged(victim, before)
    (victim / "mlenv.lock").unlink()
    before = _sentinel.listing(victim)
    doc = gc(one, mlenv)
    assert str(victim) in doc["projects"]
    _sentinel.assert_unchanged(victim, before)
    forged = one.home / "store" / "projects" / ("0" * 64)
    forged.write_text(str(tmp_path), encoding="utf-8")
    doc = gc(one, mlenv)
    assert str(tmp_path) not in doc["projects"]
    assert (tmp_path / "victim").is_dir()
