"""`fetch_all`: several downloads at once against the 127.0.0.1 server, one failure named."""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any

import pytest

from mlenv.envs.download import FetchJob, FetchOptions, fetch_all
from mlenv.envs.store import Store
from mlenv.errors import InstallError

FAST = FetchOptions(retries=1, timeout=10, backoff=0.01)


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """No proxy between urllib and 127.0.0.1."""


class Counting:
    """Wraps the server's sender: how many responses are being sent at the same time."""

    def __init__(self, server: Any) -> None:
        self.original = server._send
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, h: Any, hit: Any, data: bytes, content_type: str, **kw: Any) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.2)  # long enough that parallel downloads overlap on a loaded machine
            return self.original(h, hit, data, content_type, **kw)
        finally:
            with self.lock:
                self.now -= 1


class Recorder:
    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.events: list[tuple[str, str]] = []

    def _note(self, kind: str, label: str) -> None:
        self.events.append((kind, label))

    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def debug(self, message: str) -> None: ...

    def start(self, label: str, total: int | None) -> None:
        self._note("start", label)

    def advance(self, label: str, amount: int) -> None:
        self._note("advance", label)

    def done(self, label: str) -> None:
        self._note("done", label)


def _jobs(server: Any, helpers: ModuleType, n: int) -> list[FetchJob]:
    out = []
    for i in range(n):
        data = helpers.MODEL_BIN + bytes([i])
        server.files[f"/artifacts/p{i}.bin"] = data
        out.append(
            FetchJob(
                url=server.url(f"/artifacts/p{i}.bin"), sha256=helpers.sha256(data), label=f"p{i}"
            )
        )
    return out


def test_downloads_overlap_and_all_land(
    store: Store, server: Any, helpers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = Counting(server)
    monkeypatch.setattr(server, "_send", counting)
    jobs = _jobs(server, helpers, 6)
    reporter = Recorder()
    results = fetch_all(store, jobs, options=FAST, reporter=reporter, workers=4)
    assert [sha for _, sha in results] == [j.sha256 for j in jobs]  # in the jobs' order
    assert all(store.has(str(j.sha256)) for j in jobs)
    assert 2 <= counting.most <= 4  # several at once, never more than the pool
    for j in jobs:  # each download reported from start to done
        kinds = [k for k, label in reporter.events if label == j.label]
        assert kinds[0] == "start" and kinds[-1] == "done"


def test_a_failing_download_names_its_url_and_leaves_nothing(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    jobs = _jobs(server, helpers, 3)
    missing = FetchJob(url=server.url("/artifacts/nope.bin"), sha256="0" * 64, label="nope")
    with pytest.raises(InstallError) as info:
        fetch_all(store, [*jobs, missing], options=FAST, workers=4)
    assert info.value.where == missing.url
    assert "nope" in info.value.message
    assert not store.has("0" * 64)
    objects = [
        p
        for p in store.home.rglob("*")
        if p.is_file() and "0" * 64 in p.name and "locks" not in p.parts
    ]
    assert objects == []
