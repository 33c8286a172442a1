"""Hostile bundles given to `mlenv reproduce`: each is refused (exit 1, the member or the
bundle.json field named), nothing of the unpack remains under `--out`, nothing outside changes.

The bundles start from a real one (`mlenv pack` of the installed offline project, made once
per module) and are rewritten with `tarfile`: sparse members, unlisted or doubled members,
paths that leave the unpack folder, links, sizes or hashes that lie, a decompression bomb."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from hostile_tar import append_raw, sparse_member

from mlenv.envs.bundle import BUNDLE_FILE

MODEL = "artifacts/remotemodel/model.bin"
LOCK = "project/mlenv.lock"


@dataclass
class Packed:
    project: Any
    bundle: Path
    listing: dict[str, Any]
    members: list[tuple[str, bytes]]


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, wheels: Any) -> Packed:
    root = tmp_path_factory.mktemp("packed")
    server = H.start_server(wheels)
    try:
        project = H.write_project(root / "project", root / "home", server)
        for args in (("resolve",), ("install",), ("pack", "-o", str(root / "bundle.tar"))):
            result = H.run_mlenv(project, *args)
            assert result.returncode == 0, str(result)
    finally:
        server.stop()
    members = []
    with tarfile.open(root / "bundle.tar") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info)
            assert f is not None
            members.append((info.name, f.read()))
    assert members[0][0] == BUNDLE_FILE
    listing = json.loads(members[0][1])
    return Packed(project, root / "bundle.tar", listing, members[1:])


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info


def write_bundle(
    path: Path,
    listing: dict[str, Any] | bytes,
    members: list[tuple[str, bytes]],
    *,
    raw: dict[str, bytes] | None = None,
    extra: Callable[[tarfile.TarFile], None] | None = None,
    gz: bool = False,
) -> Path:
    """bundle.json first, then the members; `raw[name]` replaces a member by ready-made blocks."""
    head = listing if isinstance(listing, bytes) else json.dumps(listing).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(BUNDLE_FILE, len(head)), io.BytesIO(head))
        for name, data in members:
            if raw and name in raw:
                append_raw(tar, raw[name])
            else:
                tar.addfile(_info(name, len(data)), io.BytesIO(data))
        if extra:
            extra(tar)
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _index(listing: dict[str, Any], path: str) -> int:
    return next(i for i, f in enumerate(listing["files"]) if f["path"] == path)


def _copy(listing: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(listing))


def _reproduce(packed: Packed, bundle: Path, out: Path) -> Any:
    return H.run_mlenv(packed.project, "reproduce", str(bundle), "--out", str(out), timeout=120)


def _nothing_unpacked(out: Path) -> None:
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left in ([], [".mlenv-reproduction"]), f"left under --out: {left}"


def _symlink(tar: tarfile.TarFile, target: str) -> None:
    info = tarfile.TarInfo("project/link")
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _member(name: str, data: bytes) -> Callable[[tarfile.TarFile], None]:
    return lambda tar: tar.addfile(_info(name, len(data)), io.BytesIO(data))


# case -> (what to change, needles); each builder gets (packed, sentinel folder) and returns
# the keyword arguments of write_bundle beyond the path
Build = Callable[[Packed, Path], dict[str, Any]]


def _sparse(p: Packed, s: Path) -> dict[str, Any]:
    return {"raw": {MODEL: sparse_member(MODEL, 4 << 30)}}


def _unlisted(p: Packed, s: Path) -> dict[str, Any]:
    return {"extra": _member("project/extra.txt", b"not from pack\n")}


def _traversal_member(p: Packed, s: Path) -> dict[str, Any]:
    return {"extra": _member("../../sentinel/keep/evil.txt", b"overwritten\n")}


def _absolute_member(p: Packed, s: Path) -> dict[str, Any]:
    return {"extra": _member(f"{s}/keep/precious.txt", b"overwritten\n")}


def _traversal_listed(p: Packed, s: Path) -> dict[str, Any]:
    listing = _copy(p.listing)
    i = _index(listing, MODEL)
    listing["files"][i]["path"] = "../../sentinel/keep/evil.txt"
    members = [("../../sentinel/keep/evil.txt" if n == MODEL else n, d) for n, d in p.members]
    return {"listing": listing, "members": members}


def _sha_is_a_path(p: Packed, s: Path) -> dict[str, Any]:
    listing = _copy(p.listing)
    listing["files"][_index(listing, MODEL)]["sha256"] = f"../../{s.name}/keep/precious.txt"
    return {"listing": listing}


def _larger(p: Packed, s: Path) -> dict[str, Any]:
    return {"members": [(n, d + b"more" if n == MODEL else d) for n, d in p.members]}


def _changed(p: Packed, s: Path) -> dict[str, Any]:
    """One byte changed, the size kept: reported with both hashes, nothing left."""
    return {"members": [(n, d[:-1] + b"!" if n == LOCK else d) for n, d in p.members]}


def _duplicate(p: Packed, s: Path) -> dict[str, Any]:
    data = dict(p.members)[MODEL]
    return {"extra": _member(MODEL, data)}


def _symlinked(p: Packed, s: Path) -> dict[str, Any]:
    return {"extra": lambda tar: _symlink(tar, f"../../{s.name}")}


def _listing_edit(field: str, value: Any) -> Build:
    def build(p: Packed, s: Path) -> dict[str, Any]:
        listing = _copy(p.listing)
        listing["files"][_index(listing, MODEL)][field] = value
        return {"listing": listing}

    return build


def _duplicate_key(p: Packed, s: Path) -> dict[str, Any]:
    text = json.dumps(p.listing)
    return {"listing": text.replace('"kind":', '"target": "x", "kind":', 1).encode()}


def _bad_target(p: Packed, s: Path) -> dict[str, Any]:
    listing = _copy(p.listing)
    listing["target"] = "../../../../somewhere"
    return {"listing": listing}


def _bomb(p: Packed, s: Path) -> dict[str, Any]:
    """A pax header of 32 MiB (a few KiB once gzipped) before a listed member."""

    def extra(tar: tarfile.TarFile) -> None:
        info = _info("project/bomb.txt", 1)
        info.pax_headers = {"comment": "0" * (32 << 20)}
        tar.format = tarfile.PAX_FORMAT
        tar.addfile(info, io.BytesIO(b"x"))

    return {"extra": extra, "gz": True}


CASES: dict[str, tuple[Build, tuple[str, ...]]] = {
    "sparse member": (_sparse, (MODEL, "sparse member")),
    "unlisted member": (_unlisted, ("project/extra.txt", "not listed in bundle.json")),
    "member ../": (_traversal_member, ("../../sentinel/keep/evil.txt", "not a safe relative")),
    "absolute member": (_absolute_member, ("precious.txt", "absolute path")),
    "listed path ../": (_traversal_listed, ("files[", "].path", "'..' segments")),
    "sha256 is a path": (_sha_is_a_path, ("].sha256", "precious.txt", "is not a sha256")),
    "larger than declared": (_larger, (MODEL, "].size", "declares")),
    "changed byte": (_changed, (LOCK, "failed verification", "expected sha256")),
    "duplicate member": (_duplicate, (MODEL, "appears twice")),
    "symlink member": (_symlinked, ("project/link", "is a link")),
    "size 1e32": (_listing_edit("size", 1e32), ("].size", "not a size")),
    "size -5": (_listing_edit("size", -5), ("].size", "-5")),
    "size true": (_listing_edit("size", True), ("].size", "True")),
    "md5 is a path": (_listing_edit("md5", "../../x"), ("].md5", "is not a md5")),
    "duplicate key": (_duplicate_key, ("bundle.json", "appears twice")),
    "target ../": (_bad_target, ("target", "somewhere")),
    "gzip bomb": (_bomb, ("more data than its bundle.json declares",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_bundle_is_refused_and_leaves_nothing(
    case: str, packed: Packed, tmp_path: Path, sentinel: Any, helpers: Any
) -> None:
    build, needles = CASES[case]
    options = {"listing": packed.listing, "members": packed.members} | build(packed, sentinel.path)
    bundle = write_bundle(tmp_path / "hostile.tar", **options)
    out = tmp_path / "repro"
    result = _reproduce(packed, bundle, out)
    helpers.assert_user_error(result, *needles)
    _nothing_unpacked(out)
    sentinel.check()


def test_the_real_bundle_rewritten_unchanged_still_unpacks(packed: Packed, tmp_path: Path) -> None:
    """The rewriting itself is faithful: the same members in GNU format, gzipped, reproduce."""
    bundle = write_bundle(tmp_path / "same.tar.gz", packed.listing, packed.members, gz=True)
    out = tmp_path / "repro"
    result = _reproduce(packed, bundle, out)
    assert "functional" in result.stderr, str(result)
    assert (out / "bundle" / MODEL).is_file() and (out / "home").is_dir()
    assert not [p for p in out.iterdir() if p.name.startswith(".bundle.partial")]


def test_a_folder_bundle_with_a_link_out_is_refused(
    packed: Packed, tmp_path: Path, sentinel: Any, helpers: Any
) -> None:
    """An unpacked bundle given as a folder: a link inside it is never followed."""
    folder = tmp_path / "unpacked"
    with tarfile.open(packed.bundle) as tar:
        tar.extractall(folder, filter="data")
    (folder / "project" / "recipes" / "models" / "outside").symlink_to(sentinel.path)
    result = _reproduce(packed, folder, tmp_path / "repro")
    helpers.assert_user_error(result, "project/recipes/models/outside", "link")
    assert not (tmp_path / "repro" / "project").exists()
    sentinel.check()
