"""Archives: safe extraction (tar and zip), `strip`, `path`, one extracted tree per store and
options, hard links into the environment, verification of a placed tree."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlenv.envs.archives import extract_archive, tree_digest, tree_key, tree_paths
from mlenv.envs.artifacts import ArtifactContext, place_artifact, placed_file, verify_placed
from mlenv.envs.download import FetchOptions
from mlenv.envs.store import Store
from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import ArtifactPin

MODEL = b"\x08\x07 an onnx model inside a tarball\n" * 64
README = b"read me\n"
RUN_SH = b"#!/bin/sh\necho hi\n"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append("warning: " + message)

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, label: str, amount: int) -> None:
        pass

    def done(self, label: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """No proxy between urllib and 127.0.0.1."""


# -- building archives ----------------------------------------------------------------------------


def _info(name: str, **kw: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 315532800
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def make_tar(members: list[tuple[str, Any]], mode: str = "w:gz") -> bytes:
    """members: (name, bytes) files, (name, None) folders, (name, TarInfo-kwargs dict) others."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, body in members:
            if body is None:
                tf.addfile(_info(name, type=tarfile.DIRTYPE, mode=0o755))
            elif isinstance(body, bytes):
                mode_bits = 0o755 if name.endswith(".sh") else 0o644
                tf.addfile(_info(name, size=len(body), mode=mode_bits), io.BytesIO(body))
            else:
                tf.addfile(_info(name, **body))
    return buf.getvalue()


def make_zip(members: list[tuple[str, bytes, int]]) -> bytes:
    """members: (name, bytes, unix mode with file type)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


GOOD_TAR = [
    ("pkg-1.0", None),
    ("pkg-1.0/model/resnet.onnx", MODEL),
    ("pkg-1.0/README", README),
    ("pkg-1.0/bin/run.sh", RUN_SH),
    ("pkg-1.0/latest.onnx", {"type": tarfile.SYMTYPE, "linkname": "model/resnet.onnx"}),
    ("pkg-1.0/copy.onnx", {"type": tarfile.LNKTYPE, "linkname": "pkg-1.0/model/resnet.onnx"}),
]


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def reporter() -> Recorder:
    return Recorder()


@pytest.fixture
def ctx(store: Store, project_dir: Path, tmp_path: Path, reporter: Recorder) -> ArtifactContext:
    return ArtifactContext(
        store=store, project_dir=project_dir, builtin_dir=tmp_path / "builtin",
        options=FetchOptions(retries=1, backoff=0.01), reporter=reporter, environ={},
    )  # fmt: skip


def archive_pin(project_dir: Path, name: str, data: bytes, helpers: ModuleType, **kw: Any) -> Any:
    (project_dir / name).write_bytes(data)
    fields = {"name": name, "package": "pkg", "url": name, "sha256": helpers.sha256(data), **kw}
    return ArtifactPin(**fields)


# -- good archives --------------------------------------------------------------------------------


def test_tar_with_strip_and_path_is_linked_from_one_store_tree(
    project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path, helpers: ModuleType
) -> None:
    data = make_tar(GOOD_TAR)
    pin = archive_pin(
        project_dir, "pkg.tar.gz", data, helpers, extract="tar", strip=1, path="model/resnet.onnx"
    )
    dest = tmp_path / "env" / "artifacts"
    recorded = place_artifact(pin, dest, ctx)
    key = tree_key(helpers.sha256(data), "tar", 1)
    tree, listing = tree_paths(store, key)
    assert recorded == {
        "path": "pkg/pkg.tar.gz", "sha256": helpers.sha256(data), "tree": key,
        "tree-sha256": tree_digest(tree), "file": "model/resnet.onnx",
    }  # fmt: skip
    root = dest / "pkg" / "pkg.tar.gz"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "README", "bin", "bin/run.sh", "copy.onnx", "latest.onnx", "model", "model/resnet.onnx",
    ]  # fmt: skip
    inner = placed_file(dest, recorded)
    assert inner == root / "model" / "resnet.onnx" and inner.read_bytes() == MODEL
    assert os.stat(inner).st_ino == os.stat(tree / "model" / "resnet.onnx").st_ino
    assert os.readlink(root / "latest.onnx") == "model/resnet.onnx"
    assert (root / "copy.onnx").read_bytes() == MODEL
    assert os.stat(root / "bin" / "run.sh").st_mode & 0o111, "the executable bit survives"
    assert not os.stat(inner).st_mode & 0o222, "store tree files are read-only"
    assert json.loads(listing.read_text())["files"] == 4
    assert verify_placed(dest, {"pkg/pkg.tar.gz": recorded}) == []


def test_each_extraction_is_cached_by_archive_and_options(
    project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path, reporter: Recorder,
    helpers: ModuleType,
) -> None:  # fmt: skip
    data = make_tar(GOOD_TAR)
    pin = archive_pin(project_dir, "pkg.tar.gz", data, helpers, extract="tar", strip=1)
    first = place_artifact(pin, tmp_path / "a", ctx)
    second = place_artifact(pin, tmp_path / "b", ctx)
    assert first == second and "file" not in first
    assert sum("extracting" in m for m in reporter.messages) == 1, reporter.messages
    assert placed_file(tmp_path / "a", first) == tmp_path / "a" / "pkg" / "pkg.tar.gz"
    unstripped = place_artifact(dataclasses.replace(pin, strip=0), tmp_path / "c", ctx)
    assert unstripped["tree"] != first["tree"]
    assert (tmp_path / "c" / "pkg" / "pkg.tar.gz" / "pkg-1.0" / "README").read_bytes() == README
    assert sorted(p.name for p in store.trees.iterdir()) == sorted(
        [first["tree"], first["tree"] + ".json", unstripped["tree"], unstripped["tree"] + ".json"]
    )
    assert list(store.tmp.iterdir()) == [], "no build folder is left in the store"


def test_zip_keeps_modes_and_inner_links(
    project_dir: Path, ctx: ArtifactContext, tmp_path: Path, helpers: ModuleType
) -> None:
    data = make_zip(
        [
            ("data/", b"", stat.S_IFDIR | 0o755),
            ("data/table.csv", b"a,b\n1,2\n", stat.S_IFREG | 0o644),
            ("data/tool", RUN_SH, stat.S_IFREG | 0o755),
            ("data/current.csv", b"table.csv", stat.S_IFLNK | 0o777),
            ("plain.txt", b"no mode bits at all", 0),
        ]
    )
    pin = archive_pin(project_dir, "d.zip", data, helpers, extract="zip", path="data/current.csv")
    recorded = place_artifact(pin, tmp_path / "env", ctx)
    root = tmp_path / "env" / "pkg" / "d.zip"
    assert placed_file(tmp_path / "env", recorded).read_bytes() == b"a,b\n1,2\n"
    assert os.stat(root / "data" / "tool").st_mode & 0o111
    assert (root / "plain.txt").read_bytes() == b"no mode bits at all"


def test_archive_from_the_local_server_with_md5_only(
    ctx: ArtifactContext, server: Any, tmp_path: Path, helpers: ModuleType
) -> None:
    data = make_tar(GOOD_TAR, mode="w:xz")
    server.files["/artifacts/pkg.tar.xz"] = data
    pin = ArtifactPin(
        name="pkg.tar.xz", package="pkg", url=server.url("/artifacts/pkg.tar.xz"),
        md5=helpers.md5(data), extract="tar", strip=1, path="README",
    )  # fmt: skip
    recorded = place_artifact(pin, tmp_path / "env", ctx)
    assert recorded["sha256"] == helpers.sha256(data)
    assert placed_file(tmp_path / "env", recorded).read_bytes() == README


# -- what verify sees -----------------------------------------------------------------------------


def test_verify_names_the_changed_file_of_a_placed_tree(
    project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path, helpers: ModuleType
) -> None:
    pin = archive_pin(project_dir, "p.tgz", make_tar(GOOD_TAR), helpers, extract="tar", strip=1)
    dest = tmp_path / "env"
    recorded = {"pkg/p.tgz": place_artifact(pin, dest, ctx)}
    readme = dest / "pkg" / "p.tgz" / "README"
    readme.unlink()  # replace the link by a file of other bytes: the store tree stays intact
    readme.write_bytes(b"edited\n")
    (dest / "pkg" / "p.tgz" / "extra.txt").write_bytes(b"x")
    (diff,) = verify_placed(dest, recorded, store)
    assert "changed" in diff and "README changed" in diff and "extra.txt not in the archive" in diff
    (diff,) = verify_placed(dest, recorded)  # without the store: still detected
    assert "p.tgz" in diff and "changed" in diff
    import shutil

    shutil.rmtree(dest / "pkg" / "p.tgz")
    (diff,) = verify_placed(dest, recorded)
    assert "missing" in diff


def test_a_changed_store_tree_is_extracted_anew(
    project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path, reporter: Recorder,
    helpers: ModuleType,
) -> None:  # fmt: skip
    pin = archive_pin(project_dir, "p.tgz", make_tar(GOOD_TAR), helpers, extract="tar", strip=1)
    recorded = place_artifact(pin, tmp_path / "a", ctx)
    tree, listing = tree_paths(store, recorded["tree"])
    victim = tree / "README"
    victim.chmod(0o644)
    victim.write_bytes(b"tampered\n")
    again = place_artifact(pin, tmp_path / "b", ctx)
    assert again == recorded
    assert (tmp_path / "b" / "pkg" / "p.tgz" / "README").read_bytes() == README
    assert any("changed; extracting anew" in m for m in reporter.messages)
    listing.unlink()  # as if killed between the rename and the listing: rebuilt too
    assert place_artifact(pin, tmp_path / "c", ctx) == recorded


# -- refused archives -----------------------------------------------------------------------------

DEVICE = {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}
UNSAFE_TARS = {
    "absolute": ([("/etc/evil", b"x")], "/etc/evil", "absolute"),
    "dotdot": ([("pkg/../../evil", b"x")], "pkg/../../evil", ".."),
    "abs-symlink": ([("pkg/l", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"})], "pkg/l", "absolute"),
    "up-symlink": ([("pkg/l", {"type": tarfile.SYMTYPE, "linkname": "../../x"})], "pkg/l", "outside"),
    "hardlink-out": ([("pkg/h", {"type": tarfile.LNKTYPE, "linkname": "../etc/passwd"})], "pkg/h", "hard link"),
    "hardlink-missing": ([("pkg/h", {"type": tarfile.LNKTYPE, "linkname": "pkg/nothing"})], "pkg/h", "not a file"),
    "device": ([("pkg/null", DEVICE)], "pkg/null", "device"),
    "fifo": ([("pkg/pipe", {"type": tarfile.FIFOTYPE})], "pkg/pipe", "fifo"),
    # x -> y/.. lands inside while y does not exist; y -> . then makes x point one level up
    "redirected-link": (
        [("x", {"type": tarfile.SYMTYPE, "linkname": "y/.."}),
         ("y", {"type": tarfile.SYMTYPE, "linkname": "."}),
         ("x/evil", b"x")],
        "x", "outside",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(UNSAFE_TARS))
def test_unsafe_tar_members_are_refused(
    case: str, project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path,
    helpers: ModuleType,
) -> None:  # fmt: skip
    members, member, why = UNSAFE_TARS[case]
    pin = archive_pin(project_dir, "bad.tar.gz", make_tar(members), helpers, extract="tar")
    with pytest.raises(IntegrityError) as info:
        place_artifact(pin, tmp_path / "env", ctx)
    error = info.value
    assert "bad.tar.gz" in error.message and repr(member).strip("'") in error.message
    assert why in error.message, error.message
    assert error.hint and error.details["member"].startswith(member)
    assert not store.trees.exists() or list(store.trees.iterdir()) == []
    assert list(store.tmp.iterdir()) == []
    assert not (tmp_path.parent / "evil").exists() and not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("../evil", b"x", stat.S_IFREG | 0o644)], ".."),
        ([("/abs/evil", b"x", stat.S_IFREG | 0o644)], "absolute"),
        ([("..\\evil", b"x", stat.S_IFREG | 0o644)], ".."),
        ([("l", b"../../outside", stat.S_IFLNK | 0o777)], "outside"),
        ([("p", b"", stat.S_IFIFO | 0o644)], "fifo"),
    ],
)
def test_unsafe_zip_members_are_refused(
    members: list[tuple[str, bytes, int]], why: str, tmp_path: Path
) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(make_zip(members))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IntegrityError) as info:
        extract_archive(archive, dest, extract="zip", strip=0, label="bad.zip")
    assert why in info.value.message and "bad.zip" in info.value.message
    assert info.value.details["member"] == members[0][0]


def test_a_missing_path_and_a_wrong_kind_are_install_errors(
    project_dir: Path, ctx: ArtifactContext, tmp_path: Path, helpers: ModuleType
) -> None:
    data = make_tar(GOOD_TAR)
    pin = archive_pin(project_dir, "p.tgz", data, helpers, extract="tar", strip=1, path="nope.onnx")
    with pytest.raises(InstallError) as info:
        place_artifact(pin, tmp_path / "env", ctx)
    assert "nope.onnx" in info.value.message and "README" in (info.value.why or "")
    assert info.value.hint and "path:" in info.value.hint
    as_zip = archive_pin(project_dir, "q.tgz", data, helpers, extract="zip")
    with pytest.raises(InstallError) as info:
        place_artifact(as_zip, tmp_path / "env2", ctx)
    assert "cannot read" in info.value.message and "zip" in info.value.message
    assert not isinstance(info.value, IntegrityError)
    truncated = archive_pin(project_dir, "t.tgz", data[: len(data) // 2], helpers, extract="tar")
    with pytest.raises(InstallError) as info:
        place_artifact(truncated, tmp_path / "env3", ctx)
    assert "cannot read" in info.value.message


def test_options_a_hand_edited_lock_could_carry_are_refused(
    project_dir: Path, ctx: ArtifactContext, store: Store, tmp_path: Path, helpers: ModuleType
) -> None:
    data = make_tar(GOOD_TAR)
    for extract, strip in (("../../x", 0), ("rar", 0), ("tar", -1)):
        pin = archive_pin(project_dir, "p.tgz", data, helpers, extract=extract, strip=strip)
        with pytest.raises(InstallError) as info:
            place_artifact(pin, tmp_path / "env", ctx)
        assert "cannot extract" in info.value.message and info.value.hint
    assert not store.trees.exists()
