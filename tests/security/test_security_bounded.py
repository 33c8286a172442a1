"""Bounded reads: a download stops at its pinned size, an archive artifact at its caps.

A hostile server streams forever (or claims a huge Content-Length); a hostile archive holds a
sparse member, a header claiming gigabytes, or zip members whose declared sizes lie. Each is
refused before the bytes are written, and nothing is left behind."""

from __future__ import annotations

import hashlib
import http.server
import io
import stat
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_tar import append_raw, sparse_member

from mlenv.envs.archives import extract_archive, size_cap
from mlenv.envs.download import FetchOptions, fetch_to_store
from mlenv.envs.store import Store
from mlenv.errors import InstallError, IntegrityError

PINNED = 64 << 10  # the size the recipes pin
MAX_STREAM = 64 << 20  # the hostile handler gives up here, so a test ends even if mlenv does not
SOCKET_SLACK = 8 << 20  # what socket buffers may have taken in before mlenv stopped reading
FAST = FetchOptions(retries=2, timeout=10, backoff=0.01)
PAYLOAD = b"x" * PINNED
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Endless:
    """A 127.0.0.1 server whose every GET streams data: `mode` `endless` (no length),
    `liar` (a Content-Length of 1 GiB) or `range` (206 for a Range request, endless)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sent = 0
        self.requests: list[str | None] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.headers.get("Range"))
                ranged = outer.mode == "range" and self.headers.get("Range")
                self.send_response(206 if ranged else 200)
                if outer.mode == "liar":
                    self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                chunk = b"x" * (64 << 10)
                try:
                    while outer.sent < MAX_STREAM:
                        self.wfile.write(chunk)
                        outer.sent += len(chunk)
                except OSError:
                    pass  # mlenv hung up: what it should do

        class Httpd(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.bin"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def endless() -> Iterator[Callable[[str], Endless]]:
    servers: list[Endless] = []

    def _start(mode: str) -> Endless:
        servers.append(Endless(mode))
        return servers[-1]

    yield _start
    for s in servers:
        s.stop()


def _no_partials(home: Path) -> None:
    tmp = home / "store" / "tmp"
    left = [p.name for p in tmp.iterdir()] if tmp.exists() else []
    assert not any(name.endswith(".part") for name in left), left


@pytest.mark.parametrize("mode", ["endless", "liar"])
def test_install_stops_an_endless_download_at_the_pinned_size(
    mode: str,
    endless: Callable[[str], Endless],
    make_project: Callable[..., Any],
    mlenv: Callable[..., Any],
    helpers: Any,
    sentinel: Any,
) -> None:
    srv = endless(mode)
    project = make_project(requires=("bigmodel",))
    project.write(
        "recipes/models/bigmodel.yaml",
        f"""
        name: bigmodel
        kind: model
        summary: a model whose server never stops sending
        versions: ["1.0"]
        install:
          - artifact: {{url: "{srv.url}", sha256: {PAYLOAD_SHA}, size: {PINNED}}}
        """,
    )
    assert mlenv(project, "resolve").returncode == 0
    started = time.monotonic()
    result = mlenv(project, "install", timeout=60)
    took = time.monotonic() - started
    helpers.assert_user_error(
        result, "artifact model.bin of bigmodel", str(PINNED), "the server sent more", srv.url
    )
    assert srv.sent <= PINNED + SOCKET_SLACK, f"mlenv read on: the server sent {srv.sent} bytes"
    assert took < 30, took
    assert len(srv.requests) == 1, "an overflow is not retried"
    _no_partials(project.home)
    sentinel.check()


def test_a_resumed_download_respects_the_cap(
    endless: Callable[[str], Endless], tmp_path: Path
) -> None:
    """A partial file of 1000 bytes: the Range request's endless answer is cut at the size."""
    srv = endless("range")
    store = Store(tmp_path / "home")
    part = store.temp_path(PAYLOAD_SHA)
    part.write_bytes(b"x" * 1000)
    with pytest.raises(IntegrityError) as info:
        fetch_to_store(store, srv.url, sha256=PAYLOAD_SHA, label="big", options=FAST, size=PINNED)
    assert srv.requests == ["bytes=1000-"]
    assert "the server sent more" in (info.value.why or "") and str(PINNED) in info.value.message
    assert info.value.details["url"] == srv.url
    assert not part.exists()
    assert srv.sent <= PINNED + SOCKET_SLACK


def test_a_stale_partial_beyond_the_size_starts_over(
    endless: Callable[[str], Endless], tmp_path: Path
) -> None:
    srv = endless("range")
    store = Store(tmp_path / "home")
    part = store.temp_path(PAYLOAD_SHA)
    part.write_bytes(b"x" * (PINNED + 10))
    with pytest.raises(IntegrityError):
        fetch_to_store(store, srv.url, sha256=PAYLOAD_SHA, label="big", options=FAST, size=PINNED)
    assert srv.requests == [None], "no Range for a partial file larger than the pin"


def test_a_local_file_larger_than_its_size_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(PAYLOAD + b"more")
    store = Store(tmp_path / "home")
    with pytest.raises(IntegrityError) as info:
        fetch_to_store(store, str(src), sha256=PAYLOAD_SHA, label="big", options=FAST, size=PINNED)
    assert str(PINNED) in info.value.message
    assert not store.has(PAYLOAD_SHA)


# -- archives -------------------------------------------------------------------------------------


def _tar(*members: tuple[str, bytes], raw: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        if raw:
            append_raw(tar, raw)
    return buf.getvalue()


def _huge_header(name: str, claimed: int) -> bytes:
    """A regular member whose header claims `claimed` bytes, followed by a few only."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = claimed, 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"y" * 4096


def test_the_default_cap() -> None:
    assert size_cap(10) == 1 << 30
    assert size_cap(100 << 20) == 200 * (100 << 20)


def test_a_tar_beyond_the_cap_is_refused_before_writing(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(_tar(("first.bin", b"a" * 600), ("second.bin", b"b" * 600)))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IntegrityError) as info:
        extract_archive(archive, dest, extract="tar", strip=0, label="a.tar", max_total=1000)
    assert "second.bin" in info.value.message and "cap of 1000" in info.value.message
    assert info.value.details["member"] == "second.bin"
    assert not (dest / "second.bin").exists(), "refused before its first byte was written"


def test_a_sparse_tar_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "s.tar"
    archive.write_bytes(_tar(("ok.txt", b"fine\n"), raw=sparse_member("holes.bin", 64 << 20)))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IntegrityError) as info:
        extract_archive(archive, dest, extract="tar", strip=0, label="s.tar")
    assert "holes.bin" in info.value.message and "sparse" in info.value.message
    assert not (dest / "holes.bin").exists()


def _zip(members: list[tuple[str, bytes]], lie: dict[str, int] | None = None) -> bytes:
    """A deflated zip; `lie` rewrites the uncompressed size both headers declare."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = bytearray(buf.getvalue())
    for name, size in (lie or {}).items():
        encoded = name.encode()
        for signature, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            at = raw.find(signature)
            while at >= 0:
                start = at + (30 if signature == b"PK\x03\x04" else 46)
                if raw[start : start + len(encoded)] == encoded:
                    raw[at + field : at + field + 4] = size.to_bytes(4, "little")
                at = raw.find(signature, at + 4)
    return bytes(raw)


def test_a_zip_member_whose_declared_size_lies_is_stopped(tmp_path: Path) -> None:
    """1 MiB of zeros declared as 10 bytes: never more than 10 bytes are written."""
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zip([("bomb.bin", b"\x00" * (1 << 20))], lie={"bomb.bin": 10}))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(InstallError) as info:
        extract_archive(archive, dest, extract="zip", strip=0, label="bomb.zip")
    assert "bomb.zip" in info.value.message
    written = dest / "bomb.bin"
    assert not written.exists() or written.stat().st_size <= 10


def test_zip_members_beyond_the_cap_are_refused_before_writing(tmp_path: Path) -> None:
    archive = tmp_path / "z.zip"
    archive.write_bytes(_zip([("a.bin", b"a" * 600), ("b.bin", b"b" * 600)]))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IntegrityError) as info:
        extract_archive(archive, dest, extract="zip", strip=0, label="z.zip", max_total=1000)
    assert info.value.details["member"] == "b.bin" and "cap" in info.value.message
    assert not (dest / "b.bin").exists()
    huge = tmp_path / "huge.zip"
    huge.write_bytes(_zip([("claims.bin", b"c" * 100)], lie={"claims.bin": 0xFFFF_FFF0}))
    with pytest.raises(IntegrityError) as info:
        extract_archive(huge, tmp_path / "out2", extract="zip", strip=0, label="huge.zip")
    assert "claims.bin" in info.value.message and "cap" in info.value.message


@pytest.mark.parametrize(
    ("case", "member", "needle"),
    [
        ("sparse", "holes.bin", "sparse member"),
        ("huge", "huge.bin", "more than the cap"),
    ],
)
def test_install_refuses_a_hostile_archive_artifact_and_cleans_up(
    case: str,
    member: str,
    needle: str,
    make_project: Callable[..., Any],
    mlenv: Callable[..., Any],
    helpers: Any,
    sentinel: Any,
) -> None:
    raw = sparse_member(member, 64 << 20) if case == "sparse" else _huge_header(member, 2 << 30)
    data = _tar(("README", b"an archive\n"), raw=raw)
    project = make_project(requires=("packed",))
    (project.recipes / "models").mkdir(parents=True, exist_ok=True)
    (project.recipes / "models" / "packed.tar").write_bytes(data)
    project.write(
        "recipes/models/packed.yaml",
        f"""
        name: packed
        kind: model
        summary: an archive with a hostile member
        versions: ["1.0"]
        install:
          - artifact: {{url: packed.tar, sha256: {hashlib.sha256(data).hexdigest()},
                        size: {len(data)}, extract: tar}}
        """,
    )
    assert mlenv(project, "resolve").returncode == 0
    result = mlenv(project, "install", timeout=60)
    helpers.assert_user_error(result, member, needle, "packed.tar")
    store = project.home / "store"
    assert not (store / "trees").exists() or list((store / "trees").iterdir()) == []
    assert [p.name for p in (store / "tmp").iterdir() if p.name.startswith("tree-")] == []
    sentinel.check()
