"""Fixtures of the catalog tests (helpers in catalog_helpers.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from catalog_helpers import Upstream

from mlenv.index import RecipeIndex, RecipeRoot, load_index
from mlenv.paths import BUILTIN_PREFIX, builtin_recipes_dir


@pytest.fixture(scope="session")
def builtin_index() -> RecipeIndex:
    return load_index([RecipeRoot(label=BUILTIN_PREFIX, path=builtin_recipes_dir())])


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].lstrip("/")
            state.requests.append(path)
            data = state.files.get(path)
            if data is None and not path.endswith("/"):
                data = state.files.get(path + "/")
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            kind = "text/html" if path.startswith("simple/") else "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
