"""Keep-alive HTTP(S) connections for downloads: one per (scheme, host, port) per thread.

`Pool.open(url, headers, timeout)` is a context manager giving an `http.client.HTTPResponse`
(status, headers, read) after following redirects (301/302/303/307/308, at most
`MAX_REDIRECTS`, never from https to http). A connection is reused by the next request of its
thread to the same host when its response was read to the end; otherwise it is closed. A reused
connection the server closed meanwhile is reopened once. Where the environment names a proxy
for the URL (HTTP_PROXY/HTTPS_PROXY, not bypassed by NO_PROXY), urllib opens it instead, as
before. TLS uses `ssl.create_default_context()`, whose default verify paths honour
SSL_CERT_FILE / SSL_CERT_DIR. A status of 400 or more raises `HTTPStatusError`.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

from mlenv.errors import InstallError

MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
_DRAIN = 64 * 1024  # a redirect's body up to this size is read so the connection is reused
# what a reused connection raises when the server closed it while it was idle
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

Key = tuple[str, str, int]


class HTTPStatusError(OSError):
    """A final answer of 400 or more (the connection is not kept)."""

    def __init__(self, url: str, code: int, reason: str) -> None:
        super().__init__(f"HTTP {code} {reason}")
        self.url, self.code, self.reason = url, code, reason


def proxied(url: str) -> bool:
    """True when the environment names a proxy for this URL (urllib's rules)."""
    import urllib.request

    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _key(url: str) -> Key:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname or "", port


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class Pool:
    """Connections by (thread, scheme, host, port). `close()` closes every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[tuple[int, Key], http.client.HTTPConnection] = {}
        self._tls: ssl.SSLContext | None = None
        self.opened = 0  # connections created (a test looks)

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _get(self, key: Key, timeout: float) -> http.client.HTTPConnection:
        me = threading.get_ident()
        with self._lock:
            conn = self._conns.get((me, key))
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn
        scheme, host, port = key
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        with self._lock:
            alive = {t.ident for t in threading.enumerate()}
            for gone in [k for k in self._conns if k[0] not in alive]:
                self._conns.pop(gone).close()  # threads that ended leave no sockets behind
            self._conns[(me, key)] = conn
            self.opened += 1
        return conn

    def _drop(self, key: Key) -> None:
        with self._lock:
            conn = self._conns.pop((threading.get_ident(), key), None)
        if conn is not None:
            conn.close()

    def forget(self) -> None:
        """Let go of every connection without using it (a forked child's copy of the
        parent's sockets): only this process's descriptors are closed."""
        self._lock = threading.Lock()
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            if conn.sock is not None:  # only the descriptor: the parent's socket lives on
                with contextlib.suppress(OSError):
                    os.close(conn.sock.detach())
        self._tls = None

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()

    def _request(
        self, url: str, headers: Mapping[str, str], timeout: float
    ) -> http.client.HTTPResponse:
        """One request on this thread's connection to the URL's host; a reused connection
        the server closed while idle is reopened once."""
        key = _key(url)
        for reopened in (False, True):
            conn = self._get(key, timeout)
            reused = conn.sock is not None
            try:
                conn.request("GET", _target(url), headers=dict(headers))
                return conn.getresponse()
            except _STALE:
                self._drop(key)
                if reopened or not reused:
                    raise
            except BaseException:
                self._drop(key)
                raise
        raise AssertionError("unreachable")

    def _follow(
        self, url: str, headers: Mapping[str, str], timeout: float
    ) -> tuple[str, http.client.HTTPResponse]:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._request(url, headers, timeout)
            if response.status not in REDIRECTS:
                return url, response
            location = response.headers.get("Location")
            self._finish(url, response)
            if not location:
                raise HTTPStatusError(url, response.status, "redirect without a Location")
            target = urljoin(url, location.strip())
            self._check_redirect(url, target)
            url = target
        raise InstallError(
            f"too many redirects (more than {MAX_REDIRECTS}) from {url}",
            where=url,
            hint="the server redirects in a loop: point the recipe or mirror at the final URL",
        )

    @staticmethod
    def _check_redirect(url: str, target: str) -> None:
        scheme = urlsplit(target).scheme.lower()
        if scheme not in ("http", "https") or (url.startswith("https:") and scheme != "https"):
            raise InstallError(
                f"refusing a redirect from {url} to {target}",
                where=url,
                why="a download over https is never continued over plain http (or another scheme)",
                hint="point the recipe or mirror at the final https URL",
            )

    def _finish(self, url: str, response: http.client.HTTPResponse) -> None:
        """Keep the connection when its response was read to the end; close it otherwise."""
        if not response.isclosed():
            length = response.length
            if length is not None and length <= _DRAIN:
                response.read()
        if not response.isclosed():
            response.close()
            self._drop(_key(url))

    @contextmanager
    def open(self, url: str, headers: Mapping[str, str], timeout: float) -> Iterator[Any]:
        """The response for a GET of `url` (status < 400), redirects followed."""
        if proxied(url):
            yield from _through_urllib(url, headers, timeout)
            return
        final, response = self._follow(url, headers, timeout)
        if response.status >= 400:
            self._finish(final, response)
            raise HTTPStatusError(final, response.status, response.reason)
        try:
            yield response
        except BaseException:
            response.close()
            self._drop(_key(final))
            raise
        self._finish(final, response)


def _through_urllib(url: str, headers: Mapping[str, str], timeout: float) -> Iterator[Any]:
    """The proxy path: urllib opens the URL (its proxy handling, its redirects)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers))
    try:
        # an opener of its own, with the proxies of now (urlopen's global one keeps those of
        # its first use)
        proxies = urllib.request.ProxyHandler(urllib.request.getproxies())
        response = urllib.request.build_opener(proxies).open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        raise HTTPStatusError(url, e.code, str(e.reason)) from e
    with response:
        yield response


_SHARED: Pool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> Pool:
    """The process's pool for downloads outside `fetch_all` (closed at exit; a forked child
    starts with an empty one, never the parent's sockets)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Pool()
            atexit.register(_SHARED.close)
        return _SHARED


def _after_fork() -> None:
    global _SHARED, _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    if _SHARED is not None:
        _SHARED.forget()
        _SHARED = None


os.register_at_fork(after_in_child=_after_fork)
