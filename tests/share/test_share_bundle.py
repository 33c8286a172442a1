"""`mlenv pack` and `mlenv reproduce` on the offline project (everything from 127.0.0.1)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlenv.envs.bundle import BUNDLE_FILE


def _pack(project: Any, mlenv: Callable[..., Any], out: Path) -> dict[str, Any]:
    result = mlenv(project, "pack", "-o", str(out), "--json")
    assert result.returncode == 0, str(result)
    doc = json.loads(result.stdout)
    assert doc["command"] == "pack" and doc["ok"] is True and doc["error"] is None, doc
    return dict(doc["data"])


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def _flip_byte_in(bundle: Path, member_name: str) -> None:
    """Change one byte in the middle of one member's data, in place."""
    with tarfile.open(bundle) as tar:
        member = tar.getmember(member_name)
    offset = member.offset_data + member.size // 2
    with bundle.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_pack_is_deterministic_and_complete(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    first = _pack(installed, mlenv, tmp_path / "a.tar")
    second = _pack(installed, mlenv, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert first["sha256"] == second["sha256"]
    members = _members(tmp_path / "a.tar")
    names = [m.name for m in members]
    assert names[0] == BUNDLE_FILE and names[1:] == sorted(names[1:])
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.isfile() for m in members)
    for needed in (
        "project/mlenv.yaml",
        "project/mlenv.lock",
        "project/recipes/frameworks/tinybeta.yaml",
        "project/recipes/models/tinymodel.yaml",
        "recorded/env.json",
        "wheels/tinyalpha-2.0-py3-none-any.whl",
        "wheels/tinybeta-1.0-py3-none-any.whl",
        "artifacts/remotemodel/model.bin",
        "artifacts/tinymodel/model.onnx",
        "artifacts/tinytable/tinydata-1.0-py3-none-any.whl",
    ):
        assert needed in names, (needed, names)
    with tarfile.open(tmp_path / "a.tar") as tar:
        extracted = tar.extractfile(BUNDLE_FILE)
        assert extracted is not None
        listing = json.load(extracted)
    by_path = {f["path"]: f for f in listing["files"]}
    assert by_path["artifacts/remotemodel/model.bin"]["sha256"] == helpers.sha256(helpers.MODEL_BIN)
    assert set(by_path) == set(names[1:])


def test_pack_gz_is_deterministic(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path
) -> None:
    _pack(installed, mlenv, tmp_path / "a.tar.gz")
    _pack(installed, mlenv, tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert (tmp_path / "a.tar.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_reproduce_installs_with_no_network(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, server: Any, guard: Any
) -> None:
    """A fresh empty MLENV_HOME, the server gone, sockets refused: it still installs, and the
    environment holds the same files; with no results recorded it is not `reproduced`."""
    _pack(installed, mlenv, tmp_path / "bundle.tar")
    server.stop()
    fresh = tmp_path / "fresh-home"
    fresh.mkdir()
    env = guard.environ(installed.environ() | {"MLENV_HOME": str(fresh)})
    out = tmp_path / "repro"
    result = mlenv(
        installed, "reproduce", str(tmp_path / "bundle.tar"), "--out", str(out), "--json", env=env
    )
    assert result.returncode == 1, str(result)
    doc = json.loads(result.stdout)
    assert doc["command"] == "reproduce" and doc["ok"] is False, doc
    assert doc["error"]["message"].startswith("not reproduced: no reproduced badge"), doc
    assert doc["error"]["hint"] and "report.md" in doc["error"]["hint"]
    verdict = doc["data"]
    assert verdict["badges"]["available"]["awarded"] is True
    assert verdict["badges"]["functional"]["awarded"] is True, verdict
    assert verdict["badges"]["reproduced"]["awarded"] is False
    assert "no results" in verdict["badges"]["reproduced"]["reasons"][0]
    assert verdict["environment_differences"] == []
    machines = verdict["machines"]  # the locked target's facts beside the reproducing host's
    assert machines["recorded"]["os"] == machines["reproduced"]["os"]
    assert "name" in machines["reproduced"] and "python" in machines["recorded"]
    assert "## Machines" in (out / "report.md").read_text()
    guard.assert_offline()
    before = json.loads((installed.env / "env.json").read_text())
    after = json.loads(Path(verdict["paths"]["environment"], "env.json").read_text())
    assert after == before
    assert list(fresh.iterdir()) == [], "the user's MLENV_HOME is left alone"
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).is_file()


def test_reproduce_reuses_its_folder_and_accepts_a_folder(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path
) -> None:
    _pack(installed, mlenv, tmp_path / "bundle.tar")
    out = tmp_path / "repro"
    for _ in range(2):
        again = mlenv(installed, "reproduce", str(tmp_path / "bundle.tar"), "--out", str(out))
        assert again.returncode == 1 and "functional" in again.stderr, str(again)
    from_dir = mlenv(
        installed, "reproduce", str(out / "bundle"), "--out", str(tmp_path / "r2"), "--json"
    )
    data = json.loads(from_dir.stdout)["data"]
    assert data["badges"]["functional"]["awarded"] is True, str(from_dir)


def test_one_changed_byte_is_refused(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    bundle = tmp_path / "bundle.tar"
    _pack(installed, mlenv, bundle)
    wheel = "wheels/tinybeta-1.0-py3-none-any.whl"
    with tarfile.open(bundle) as tar:
        extracted = tar.extractfile(BUNDLE_FILE)
        assert extracted is not None
        expected = next(f for f in json.load(extracted)["files"] if f["path"] == wheel)["sha256"]
    _flip_byte_in(bundle, wheel)
    with tarfile.open(bundle) as tar:
        extracted = tar.extractfile(wheel)
        assert extracted is not None
        actual = helpers.sha256(extracted.read())
    out = tmp_path / "repro"
    result = mlenv(installed, "reproduce", str(bundle), "--out", str(out))
    helpers.assert_user_error(result, wheel, expected, actual, "failed verification")
    assert not (out / "home").exists(), "nothing is installed from a bundle that fails"
    assert not (out / "project").exists()


def test_a_changed_file_in_an_unpacked_bundle_is_refused(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    bundle = tmp_path / "bundle.tar"
    _pack(installed, mlenv, bundle)
    folder = tmp_path / "unpacked"
    with tarfile.open(bundle) as tar:
        tar.extractall(folder, filter="data")
    lock = folder / "project" / "mlenv.lock"
    lock.write_text(lock.read_text().replace("tinybeta", "tinybetb", 1))
    (folder / "project" / "extra.txt").write_text("not from pack\n")
    result = mlenv(installed, "reproduce", str(folder), "--out", str(tmp_path / "r"), "--json")
    helpers.assert_user_error(result, "project/mlenv.lock", "project/extra.txt")
    error = json.loads(result.stdout)["error"]
    paths = {f["path"] for f in error["details"]["files"]}
    assert paths == {"project/mlenv.lock", "project/extra.txt"}


def _tar_with(path: Path, name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_hostile_or_foreign_archives_are_refused(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    cases = {
        "escape.tar": ("../outside.txt", b"x", tarfile.REGTYPE, "../outside.txt"),
        "link.tar": ("project/link", b"", tarfile.SYMTYPE, "project/link"),
        "nolisting.tar": ("project/mlenv.yaml", b"name: x\n", tarfile.REGTYPE, BUNDLE_FILE),
    }
    for name, (member, data, kind, needle) in cases.items():
        _tar_with(tmp_path / name, member, data, kind)
        result = mlenv(installed, "reproduce", str(tmp_path / name), "--out", str(tmp_path / "r"))
        helpers.assert_user_error(result, needle)
    assert not (tmp_path / "outside.txt").exists()
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar archive at all" * 40)
    result = mlenv(installed, "reproduce", str(tmp_path / "junk.tar"), "--out", str(tmp_path / "r"))
    helpers.assert_user_error(result, "not a readable mlenv bundle")


def test_reproduce_usage_errors(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    missing = mlenv(installed, "reproduce", str(tmp_path / "nope.tar"))
    helpers.assert_user_error(missing, "no bundle at")
    _pack(installed, mlenv, tmp_path / "bundle.tar")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious\n")
    result = mlenv(installed, "reproduce", str(tmp_path / "bundle.tar"), "--out", str(busy))
    helpers.assert_user_error(result, "not a folder `mlenv reproduce` made")
    assert (busy / "thesis.tex").read_text() == "precious\n"


def test_pack_refuses_a_stale_lock(
    installed: Any, mlenv: Callable[..., Any], tmp_path: Path, helpers: Any
) -> None:
    recipe = installed.root / "recipes" / "frameworks" / "tinybeta.yaml"
    recipe.write_text(recipe.read_text().replace("a tiny framework", "a changed framework"))
    result = mlenv(installed, "pack", "-o", str(tmp_path / "x.tar"))
    helpers.assert_user_error(result, "recipe of tinybeta changed")
    installed.manifest.write_text(installed.manifest.read_text().replace("tinyproj", "renamed"))
    result = mlenv(installed, "pack", "-o", str(tmp_path / "x.tar"))
    helpers.assert_user_error(result, "mlenv.yaml changed since the lock was written")
    assert not (tmp_path / "x.tar").exists()


def test_pack_offline_fills_nothing_from_the_network(
    tmp_path: Path, server: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    """Resolved but never installed, `pack --offline` says what is missing from the store;
    without --offline it downloads it (from 127.0.0.1) and packs."""
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    offline = mlenv(project, "pack", "--offline", "-o", str(tmp_path / "x.tar"))
    helpers.assert_user_error(offline, "--offline forbids downloading")
    online = mlenv(project, "pack", "-o", str(tmp_path / "x.tar"), "--json")
    assert online.returncode == 0, str(online)
    assert json.loads(online.stdout)["data"]["results"] == 0
    assert "nothing to reproduce" in online.err
