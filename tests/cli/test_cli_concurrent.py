"""Concurrent mlenv processes on one store: installs of one project and of two projects sharing
MLENV_HOME all succeed, gc waits for installs, and the store stays consistent."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SLOW_PATH = "/artifacts/slow.bin"


def tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(20):
            data = f"file {i}\n".encode() * 100
            info = tarfile.TarInfo(f"top/data/part-{i:02}.txt")
            info.size, info.mtime, info.mode = len(data), 315532800, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def with_archive(project: Any, helpers: Any) -> Any:
    data = tarball()
    project.server.files["/artifacts/data.tar.gz"] = data
    project.write(
        "recipes/datasets/tardata.yaml",
        f"""
        name: tardata
        kind: dataset
        summary: a data set inside a tarball
        versions: ["1.0"]
        install:
          - artifact: {{url: "{project.server.url("/artifacts/data.tar.gz")}", sha256: {helpers.sha256(data)}, extract: tar, strip: 1}}
        """,
    )
    return project


def start(project: Any, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlenv", *args], cwd=project.root, env=project.environ(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def assert_store_consistent(home: Path) -> int:
    """Every object's bytes match its name and it is read-only; every extracted tree matches
    its listing; nothing temporary is left. Returns the number of objects."""
    store = home / "store"
    objects = [p for p in (store / "sha256").glob("*/*")]
    for obj in objects:
        assert not obj.name.startswith("."), f"temporary file left: {obj}"
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == obj.name, f"corrupt {obj}"
        assert not obj.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    from mlenv.envs.archives import tree_digest

    for listing in (store / "trees").glob("*.json"):
        tree = listing.with_suffix("")
        assert tree_digest(tree) == json.loads(listing.read_text())["digest"]
    assert not (store / "tmp").exists() or list((store / "tmp").iterdir()) == []
    return len(objects)


def test_three_concurrent_installs_on_one_store(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    requires = ("tinybeta", "tinymodel", "remotemodel", "tinytable", "tardata")
    a = with_archive(make_project("a", requires=requires), helpers)
    b = with_archive(make_project("b", requires=requires), helpers)
    for project in (a, b):
        resolved = mlenv(project, "resolve")
        assert resolved.returncode == 0, str(resolved)
    assert a.home == b.home
    procs = [
        start(a, "install", "--json"),
        start(a, "install", "--json"),
        start(b, "install", "--json"),
    ]
    results = [finish(p) for p in procs]
    for code, out, err in results:
        assert code == 0, f"exit {code}\n{out}\n{err}"
        assert "Traceback" not in err
    docs = [json.loads(out)["data"] for _, out, _ in results]
    assert sorted(d["built"] for d in docs[:2]) == [False, True], "one build per env folder"
    assert docs[2]["built"] is True
    assert assert_store_consistent(a.home) >= 6
    trees = [p for p in (a.home / "store" / "trees").iterdir() if p.is_dir()]
    assert len(trees) == 1, "both projects share one extracted tree"
    for project in (a, b):
        assert project.leftovers() == []
        verify = mlenv(project, "verify")
        assert verify.returncode == 0, str(verify)
    env_a = Path(docs[0]["path"])
    assert (env_a / "artifacts" / "tardata" / "data.tar.gz" / "data" / "part-07.txt").exists()


def test_gc_waits_for_a_running_install(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(remote_path=SLOW_PATH, remote_sha256=helpers.sha256(helpers.SLOW_BIN))
    assert mlenv(project, "resolve").returncode == 0
    project.server.behaviors[SLOW_PATH].delay = 0.08  # ~2.6 s for the slow artifact
    install = start(project, "install")
    deadline = time.monotonic() + 30
    while not project.server.slow_started.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert project.server.slow_started.is_set(), "the install never reached the slow download"
    gc = start(project, "env", "gc")
    code, _, err = finish(install)
    assert code == 0, err
    gc_code, _, gc_err = finish(gc)
    assert gc_code == 0, gc_err
    assert "waiting for other mlenv processes" in gc_err
    assert_store_consistent(project.home)
    verify = mlenv(project, "verify")
    assert verify.returncode == 0, str(verify)
    again = mlenv(project, "install", "--frozen", "--offline", "--force")
    assert again.returncode == 0, "gc kept everything the project needs: " + str(again)
