"""Serving a built site on 127.0.0.1 (never another interface): `http.server`'s threading
server over the folder, quiet, on the port asked for (0: a free one)."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .site import DashboardError

HOST = "127.0.0.1"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    """A running server; `url` is the site's address, `stop()` ends it."""

    def __init__(self, root: Path, port: int = 0) -> None:
        handler = partial(_Quiet, directory=str(root))
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), handler)
        except OSError as e:
            raise DashboardError(
                f"cannot listen on {HOST}:{port}",
                where=f"{HOST}:{port}",
                why=str(e),
                hint="pass another --port, or --port 0 for a free one",
            ) from e
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://{HOST}:{self.port}/"
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> Server:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
