"""Connection reuse for downloads (`envs/httpconn.py`): against a test-local HTTP/1.1 server on
127.0.0.1 that counts the TCP connections it accepts (the shared fixture server speaks
HTTP/1.0 and closes after every response)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlenv.envs.download import FetchJob, FetchOptions, fetch_all, fetch_to_store
from mlenv.envs.httpconn import MAX_REDIRECTS, Pool
from mlenv.envs.store import Store
from mlenv.errors import InstallError

FAST = FetchOptions(retries=0, timeout=10, backoff=0.01)
FILES = {f"/f{i}.bin": bytes([i]) * (1000 + i) for i in range(6)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class KeepAliveServer:
    """mode: 'keep' (HTTP/1.1 keep-alive), 'close' (Connection: close after each response),
    'silent' (promises keep-alive, then closes the socket after each response)."""

    mode: str = "keep"
    accepted: int = 0
    paths: list[str] = field(default_factory=list)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    _httpd: Any = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def start(self) -> KeepAliveServer:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                path = self.path
                if "://" in path:  # a proxied request names the whole URL
                    path = "/" + path.split("://", 1)[1].split("/", 1)[1]
                if path in outer.redirects:
                    code, location = outer.redirects[path]
                    return self._answer(code, b"moved\n", location)
                data = FILES.get(path)
                if data is None:
                    return self._answer(404, b"404\n")
                return self._answer(200, data)

            def _answer(self, code: int, body: bytes, location: str | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                if location:
                    self.send_header("Location", location)
                if outer.mode == "close":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if outer.mode == "silent":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

        class Httpd(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                outer.accepted += 1
                return super().get_request()

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._httpd = Httpd(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """No proxy between the downloads and 127.0.0.1."""


@pytest.fixture
def kserver() -> Iterator[KeepAliveServer]:
    srv = KeepAliveServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def pool() -> Iterator[Pool]:
    p = Pool()
    yield p
    p.close()


def _fetch_each(store: Store, srv: KeepAliveServer, pool: Pool | None = None) -> None:
    for path, data in FILES.items():
        obj, _ = fetch_to_store(
            store, srv.url(path), sha256=_sha(data), label=path, options=FAST, pool=pool
        )
        assert obj.read_bytes() == data


def test_downloads_from_one_host_share_a_connection(store: Store, kserver: KeepAliveServer) -> None:
    pool = Pool()
    try:
        _fetch_each(store, kserver, pool)
    finally:
        pool.close()
    assert len(kserver.paths) == len(FILES)
    assert kserver.accepted == 1 < len(FILES)


def test_fetch_all_reuses_each_workers_connection(store: Store, kserver: KeepAliveServer) -> None:
    jobs = [FetchJob(url=kserver.url(p), sha256=_sha(d), label=p) for p, d in FILES.items()]
    results = fetch_all(store, jobs, options=FAST, workers=2)
    assert [Path(obj).read_bytes() for obj, _ in results] == list(FILES.values())
    assert kserver.accepted <= 2 < len(FILES)


@pytest.mark.parametrize("mode", ["close", "silent"])
def test_a_server_that_closes_after_each_response_still_works(
    store: Store, kserver: KeepAliveServer, mode: str, pool: Pool
) -> None:
    """'close' says so; 'silent' does not, so the reused connection is found closed and
    reopened once (without spending a retry: FAST has none)."""
    kserver.mode = mode
    _fetch_each(store, kserver, pool)
    assert kserver.accepted == len(FILES)
    assert len(kserver.paths) == len(FILES)


def test_a_redirect_is_followed_on_the_same_connection(
    store: Store, kserver: KeepAliveServer, pool: Pool
) -> None:
    kserver.redirects["/old.bin"] = (301, "/hop.bin")
    kserver.redirects["/hop.bin"] = (307, kserver.url("/f1.bin"))
    obj, _ = fetch_to_store(
        store, kserver.url("/old.bin"), sha256=_sha(FILES["/f1.bin"]), label="moved",
        options=FAST, pool=pool,
    )  # fmt: skip
    assert obj.read_bytes() == FILES["/f1.bin"]
    assert kserver.paths == ["/old.bin", "/hop.bin", "/f1.bin"]
    assert kserver.accepted == 1


def test_a_redirect_loop_is_an_install_error(store: Store, kserver: KeepAliveServer) -> None:
    kserver.redirects["/loop.bin"] = (302, "/loop.bin")
    with pytest.raises(InstallError) as info:
        fetch_to_store(store, kserver.url("/loop.bin"), sha256="3" * 64, label="loop", options=FAST)
    assert "too many redirects" in info.value.message and info.value.hint
    assert len(kserver.paths) == MAX_REDIRECTS + 1


def test_a_redirect_from_https_to_http_is_refused() -> None:
    pool = Pool()
    with pytest.raises(InstallError) as info:
        pool._check_redirect("https://a.example/x", "http://b.example/x")
    assert "refusing a redirect" in info.value.message and info.value.where == (
        "https://a.example/x"
    )
    pool._check_redirect("http://a.example/x", "https://b.example/x")  # upgrades are fine


def test_a_404_after_a_redirect_names_the_url(
    store: Store, kserver: KeepAliveServer, pool: Pool
) -> None:
    kserver.redirects["/gone.bin"] = (302, "/nowhere.bin")
    url = kserver.url("/gone.bin")
    with pytest.raises(InstallError) as info:
        fetch_to_store(store, url, sha256="4" * 64, label="gone", options=FAST, pool=pool)
    assert "404" in info.value.message and info.value.where == url


def test_a_proxy_from_the_environment_is_still_used(
    store: Store, kserver: KeepAliveServer, monkeypatch: pytest.MonkeyPatch, pool: Pool
) -> None:
    """With HTTP_PROXY set (and the host not in NO_PROXY), urllib's proxy handling opens it."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", kserver.url(""))
    obj, _ = fetch_to_store(
        store, "http://artifacts.example.invalid/f2.bin", sha256=_sha(FILES["/f2.bin"]),
        label="proxied", options=FAST, pool=pool,
    )  # fmt: skip
    assert obj.read_bytes() == FILES["/f2.bin"]
    assert kserver.paths == ["http://artifacts.example.invalid/f2.bin"]
    assert pool.opened == 0, "the proxy path is urllib's"


def test_https_verifies_against_ssl_cert_file(
    store: Store, kserver: KeepAliveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A self-signed certificate for 127.0.0.1: refused by default, trusted via SSL_CERT_FILE,
    and the connection is kept alive over TLS too."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    kserver._httpd.socket = tls.wrap_socket(kserver._httpd.socket, server_side=True)
    url = kserver.url("/f3.bin").replace("http:", "https:")
    untrusted = Pool()
    with pytest.raises(InstallError) as info:
        fetch_to_store(store, url, sha256=_sha(FILES["/f3.bin"]), label="tls", options=FAST,
                       pool=untrusted)  # fmt: skip
    untrusted.close()
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message and info.value.where == url
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    trusted = Pool()
    try:
        for name in ("/f3.bin", "/f4.bin"):
            obj, _ = fetch_to_store(
                store, url.replace("/f3.bin", name), sha256=_sha(FILES[name]), label="tls",
                options=FAST, pool=trusted,
            )  # fmt: skip
            assert obj.read_bytes() == FILES[name]
    finally:
        trusted.close()
    assert trusted.opened == 1
