"""Artifacts changed after install never reach a run, and an env file cannot corrupt the store
silently; `mlenv verify` checks the installed Python files against their RECORD.

The offline project gets a `benchmark:` section (and a local, empty `mlperf-loadgen` recipe so
that it resolves without PyPI): the check runs before the harness starts, so no LoadGen is needed
to see a run refused.

What the cheap check (stat recorded at install) catches: any write in place (mtime and ctime
move), a replaced file (inode), a truncation or extension (size), and a write whose mtime was
put back with `os.utime` (that sets ctime to now). It misses only a change that leaves all four
as they were (a raw write to the device, a clock set back): `mlenv run --verify` hashes every
file regardless.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sentinel as _sentinel

from mlenv.envs.artifacts import check_placed
from mlenv.envs.store import Store, link_or_copy

BENCHMARK = (
    "benchmark: {model: remotemodel, dataset: tinytable, backend: tinybeta, "
    "scenarios: [Offline], modes: [accuracy]}\n"
)
LOADGEN = """
name: mlperf-loadgen
kind: tool
summary: LoadGen stand-in (the runs under test stop before the harness)
versions: ["1.0"]
"""
MODEL = "remotemodel/model.bin"


def _runnable(project: Any, mlenv: Callable[..., Any]) -> Any:
    with project.manifest.open("a", encoding="utf-8") as f:
        f.write(BENCHMARK)
    project.write("recipes/tools/mlperf-loadgen.yaml", LOADGEN)
    for args in (("resolve",), ("install", "--frozen")):
        result = mlenv(project, *args)
        assert result.returncode == 0, str(result)
    project.env = Path(result.stdout.strip())
    previous = project.root / "results" / "earlier" / "run_1"
    previous.mkdir(parents=True)
    (previous / "result.json").write_text('{"ok": true}\n', encoding="utf-8")
    return project


@pytest.fixture
def runnable(make_project: Callable[..., Any], mlenv: Callable[..., Any]) -> Any:
    return _runnable(make_project(), mlenv)


def _placed(project: Any) -> dict[str, Any]:
    doc = json.loads((project.env / "placed.json").read_text(encoding="utf-8"))
    return dict(doc["artifacts"])


def _tamper(path: Path, *, keep_mtime: bool = False) -> bytes:
    """Change one byte in place (through the hard link, if it is one); same size."""
    before = path.stat()
    path.chmod(0o644)  # the user is root here: read-only would not stop a write anyway
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    with path.open("r+b") as f:  # in place: the inode (and any store object linked) is written
        f.write(bytes(data))
    path.chmod(before.st_mode & 0o777)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return bytes(data)


def test_install_records_how_and_what_it_placed(runnable: Any) -> None:
    placed = _placed(runnable)
    entry = placed[MODEL]
    assert entry["link"] in ("reflink", "hardlink", "copy")
    st = (runnable.env / "artifacts" / MODEL).stat()
    assert entry["stat"] == {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ino": st.st_ino,
        "ctime_ns": st.st_ctime_ns,
    }
    assert set(placed) == {MODEL, "tinymodel/model.onnx", "tinytable/table.csv"}
    env_json = json.loads((runnable.env / "env.json").read_text(encoding="utf-8"))
    assert "placed" not in env_json, "env.json stays this machine's-state free (it is packed)"


def test_an_artifact_changed_in_place_stops_the_run(
    runnable: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    expected = helpers.sha256(helpers.MODEL_BIN)
    placed = runnable.env / "artifacts" / MODEL
    linked = _placed(runnable)[MODEL]["link"] == "hardlink"
    results = _sentinel.listing(runnable.root / "results")
    data = _tamper(placed)
    result = mlenv(runnable, "run", "--frozen")
    helpers.assert_user_error(
        result, MODEL, str(placed), expected, helpers.sha256(data), "install --force"
    )
    _sentinel.assert_unchanged(runnable.root / "results", results)
    obj = runnable.store_object(expected)
    if linked:  # the env file is the store object: say so, and the rebuild must not reuse it
        assert "store object" in result.err and str(obj) in result.err
        again = mlenv(runnable, "install", "--frozen", "--force")
        helpers.assert_user_error(again, "corrupted", str(obj), expected, helpers.sha256(data))
        obj.unlink()  # the hint's remedy
    else:
        assert helpers.sha256(obj.read_bytes()) == expected
    rebuilt = mlenv(runnable, "install", "--frozen", "--force")
    assert rebuilt.returncode == 0, str(rebuilt)
    assert placed.read_bytes() == helpers.MODEL_BIN
    assert mlenv(runnable, "verify").returncode == 0


def test_a_restored_mtime_is_caught_by_ctime_and_by_verify(
    runnable: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    placed = runnable.env / "artifacts" / "tinytable" / "table.csv"
    before = placed.stat()
    data = _tamper(placed, keep_mtime=True)
    after = placed.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    expected, actual = helpers.sha256(helpers.TABLE_CSV), helpers.sha256(data)
    for args in (("run", "--frozen"), ("run", "--frozen", "--verify")):
        result = mlenv(runnable, *args)
        helpers.assert_user_error(result, "tinytable/table.csv", expected, actual)
    # a change the stat cannot see (ctime made to agree, as a raw device write would):
    # only --verify catches it
    placed = _placed(runnable)
    placed["tinytable/table.csv"]["stat"]["ctime_ns"] = after.st_ctime_ns
    doc = {"version": 1, "artifacts": placed}
    (runnable.env / "placed.json").write_text(json.dumps(doc), encoding="utf-8")
    cheap = mlenv(runnable, "run", "--frozen")
    assert "changed since the environment was installed" not in cheap.err
    full = mlenv(runnable, "run", "--frozen", "--verify")
    helpers.assert_user_error(full, "tinytable/table.csv", expected, actual)


def test_a_touched_but_unchanged_artifact_is_hashed_once(
    runnable: Any, mlenv: Callable[..., Any]
) -> None:
    placed = runnable.env / "artifacts" / MODEL
    os.utime(placed)  # a new mtime, same bytes
    result = mlenv(runnable, "install", "--frozen")
    assert result.returncode == 0, str(result)
    assert _placed(runnable)[MODEL]["stat"]["mtime_ns"] == placed.stat().st_mtime_ns


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(Path.cwd()).st_dev,
    reason="needs a second file system for the store",
)
def test_a_copied_artifact_leaves_the_store_alone(
    tmp_path: Path, server: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="mlenv-test-"))
    try:
        project = _runnable(helpers.write_project(tmp_path / "p", home, server), mlenv)
        assert _placed(project)[MODEL]["link"] == "copy"
        expected = helpers.sha256(helpers.MODEL_BIN)
        data = _tamper(project.env / "artifacts" / MODEL)
        result = mlenv(project, "run", "--frozen")
        helpers.assert_user_error(result, MODEL, expected, helpers.sha256(data))
        assert "store object" not in result.err
        assert helpers.sha256(project.store_object(expected).read_bytes()) == expected
        rebuilt = mlenv(project, "install", "--frozen", "--force")
        assert rebuilt.returncode == 0, str(rebuilt)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- mlenv verify against RECORD ------------------------------------------------------------------


def _site(project: Any) -> Path:
    (site,) = (project.env / "venv").glob("lib/python*/site-packages")
    return site


def test_verify_names_a_changed_python_file(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    module = _site(installed) / "tinybeta" / "__init__.py"
    module.write_text('VERSION = "1.0"\nimport os  # injected\n', encoding="utf-8")
    (_site(installed) / "tinyalpha" / "__init__.py").unlink()
    result = mlenv(installed, "verify")
    helpers.assert_user_error(
        result,
        "pypi tinybeta: tinybeta/__init__.py changed",
        "pypi tinyalpha: tinyalpha/__init__.py missing",
        "2 place",
    )


@pytest.mark.parametrize("kind", ["climbs", "absolute", "link"])
def test_a_record_entry_outside_the_venv_is_reported_not_read(
    installed: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, kind: str
) -> None:
    site = _site(installed)
    target = sentinel.path / "keep" / "precious.txt"
    if kind == "climbs":
        name = os.path.relpath(target, site)
    elif kind == "absolute":
        name = str(target)
    else:
        (site / "tinybeta" / "evil").symlink_to(sentinel.path / "keep")
        name = "tinybeta/evil/precious.txt"
    (record,) = site.glob("tinybeta-*.dist-info/RECORD")
    record.chmod(0o644)
    with record.open("a", encoding="utf-8") as f:
        f.write(f"{name},sha256=AAAA,13\n")
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "pypi tinybeta", "lies outside the environment")
    assert "precious.txt changed" not in result.err
    sentinel.check()


def test_scripts_listed_relative_to_site_packages_are_checked(installed: Any) -> None:
    from mlenv.envs.record import verify_records

    site = _site(installed)
    script = installed.env / "venv" / "bin" / "tinytool"
    script.write_text("#!/bin/sh\necho tiny\n", encoding="utf-8")
    (record,) = site.glob("tinybeta-*.dist-info/RECORD")
    with record.open("a", encoding="utf-8") as f:
        f.write(f"{os.path.relpath(script, site)},sha256=AAAA,21\n")
    (problem,) = verify_records(installed.env / "venv")
    assert "pypi tinybeta" in problem and "bin/tinytool changed" in problem


# -- the pieces -----------------------------------------------------------------------------------


def test_link_or_copy_says_what_it_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "obj"
    src.write_bytes(b"object")
    src.chmod(0o444)
    kind = link_or_copy(src, tmp_path / "a")
    assert kind in ("reflink", "hardlink")
    same = os.stat(tmp_path / "a").st_ino == src.stat().st_ino
    assert same == (kind == "hardlink")
    import errno

    from mlenv.envs import store as store_module

    def no_link(*args: Any) -> None:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(store_module, "_reflink", lambda s, d: False)
    monkeypatch.setattr(os, "link", no_link)
    assert link_or_copy(src, tmp_path / "b") == "copy"
    assert (tmp_path / "b").read_bytes() == b"object"


def test_check_placed_hashes_only_what_moved(tmp_path: Path, helpers: Any) -> None:
    store = Store(tmp_path / "home")
    root = tmp_path / "artifacts"
    (root / "p").mkdir(parents=True)
    path = root / "p" / "f.bin"
    path.write_bytes(b"genuine")
    sha = helpers.sha256(b"genuine")
    recorded = {"p/f": {"path": "p/f.bin", "sha256": sha}}
    st = path.stat()
    stat = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
    placed = {"p/f": {"link": "copy", "stat": {**stat, "ctime_ns": st.st_ctime_ns}}}
    assert check_placed(root, recorded, placed, store=store) == ([], {})
    lying = {"p/f": {"link": "copy", "stat": {**stat, "ctime_ns": 1}}}  # moved: hashed, fine
    changes, fresh = check_placed(root, recorded, lying, store=store)
    assert changes == [] and fresh["p/f"]["stat"] == placed["p/f"]["stat"]
    wrong = {"p/f": {"path": "p/f.bin", "sha256": "0" * 64}}
    assert check_placed(root, wrong, placed, store=store) == ([], {}), "stat agrees: trusted"
    (change,) = check_placed(root, wrong, placed, full=True, store=store)[0]
    assert (change.artifact, change.expected, change.actual) == ("p/f", "0" * 64, sha)
    path.unlink()
    (gone,) = check_placed(root, recorded, placed, store=store)[0]
    assert gone.actual is None and "missing" in gone.line()


def test_check_placed_names_the_changed_file_of_an_extracted_tree(
    tmp_path: Path, helpers: Any
) -> None:
    import io
    import tarfile

    from mlenv.envs.artifacts import ArtifactContext, place_artifact, placement
    from mlenv.envs.download import FetchOptions
    from mlenv.lock import ArtifactPin
    from mlenv.reporter import NullReporter

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, body in (("d/a.bin", b"alpha" * 100), ("d/b.bin", b"beta" * 100)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o644
            tf.addfile(info, io.BytesIO(body))
    project = tmp_path / "project"
    project.mkdir()
    (project / "t.tgz").write_bytes(buf.getvalue())
    store = Store(tmp_path / "home")
    ctx = ArtifactContext(
        store=store, project_dir=project, builtin_dir=tmp_path, options=FetchOptions(),
        reporter=NullReporter(), environ={},
    )  # fmt: skip
    sha = helpers.sha256(buf.getvalue())
    pin = ArtifactPin(name="t.tgz", package="pkg", url="t.tgz", sha256=sha, extract="tar")
    root = tmp_path / "env" / "artifacts"
    kinds: set[str] = set()
    recorded = {"pkg/t.tgz": place_artifact(pin, root, ctx, kinds=kinds)}
    placed = {"pkg/t.tgz": placement(root, recorded["pkg/t.tgz"], kinds)}
    assert placed["pkg/t.tgz"]["link"] in ("reflink", "hardlink")
    assert set(placed["pkg/t.tgz"]["files"]) == {"d", "d/a.bin", "d/b.bin"}
    assert check_placed(root, recorded, placed, store=store) == ([], {})
    changed = root / "pkg" / "t.tgz" / "d" / "b.bin"
    data = _tamper(changed)
    (change,) = check_placed(root, recorded, placed, store=store)[0]
    assert change.path == changed
    assert (change.expected, change.actual) == (
        helpers.sha256(b"beta" * 100),
        helpers.sha256(data),
    )
    assert (change.store_object is not None) == (placed["pkg/t.tgz"]["link"] == "hardlink")
