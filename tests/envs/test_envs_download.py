"""`fetch_to_store` against the 127.0.0.1 server: resume, retries, errors, md5-only artifacts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlenv.envs.download import FetchOptions, apply_mirrors, fetch_to_store
from mlenv.envs.store import Store, sha256_file
from mlenv.errors import InstallError, IntegrityError

FAST = FetchOptions(retries=3, timeout=10, backoff=0.01)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warn(self, message: str) -> None:
        self.events.append(("warn", message))

    def start(self, label: str, total: int | None) -> None:
        self.events.append(("start", total))

    def advance(self, label: str, amount: int) -> None:
        self.events.append(("advance", amount))

    def done(self, label: str) -> None:
        self.events.append(("done", label))


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """No proxy between urllib and 127.0.0.1."""


def test_downloads_into_the_store(store: Store, server: Any, helpers: ModuleType) -> None:
    digest = helpers.sha256(helpers.MODEL_BIN)
    rec = Recorder()
    obj, got = fetch_to_store(
        store, server.url("/artifacts/model.bin"), sha256=digest, label="model", options=FAST,
        reporter=rec,
    )  # fmt: skip
    assert got == digest
    assert obj == store.path(digest)
    assert obj.read_bytes() == helpers.MODEL_BIN
    assert ("start", len(helpers.MODEL_BIN)) in rec.events
    assert sum(n for kind, n in rec.events if kind == "advance") == len(helpers.MODEL_BIN)
    assert list(store.tmp.iterdir()) == [], "the partial file became the object"


def test_an_object_in_the_store_needs_no_network(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    digest = helpers.sha256(helpers.MODEL_BIN)
    url = server.url("/artifacts/model.bin")
    fetch_to_store(store, url, sha256=digest, label="model", options=FAST)
    server.stop()
    obj, _ = fetch_to_store(store, url, sha256=digest, label="model", options=FAST)
    assert obj.read_bytes() == helpers.MODEL_BIN
    offline = FetchOptions(offline=True)
    assert fetch_to_store(store, url, sha256=digest, label="model", options=offline)[0] == obj


def test_resumes_with_a_range_request_after_a_dropped_connection(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    digest = helpers.sha256(helpers.DROP_BIN)
    obj, _ = fetch_to_store(
        store, server.url("/artifacts/drop.bin"), sha256=digest, label="dropped", options=FAST
    )
    assert sha256_file(obj) == digest
    hits = server.requests_for("/artifacts/drop.bin")
    assert len(hits) == 2, hits
    assert hits[0].range is None
    half = len(helpers.DROP_BIN) // 2
    assert hits[1].range == f"bytes={half}-", "the second request asks only for the rest"
    assert hits[1].status == 206


def test_starts_over_when_the_server_ignores_the_range(
    store: Store, server: Any, helpers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that answers a Range request with 200 sends the whole file again."""
    original = server._send

    def no_ranges(h: Any, hit: Any, data: bytes, content_type: str, **kw: Any) -> None:
        hit.range = None
        return original(h, hit, data, content_type, **kw)

    monkeypatch.setattr(server, "_send", no_ranges)
    digest = helpers.sha256(helpers.DROP_BIN)
    obj, _ = fetch_to_store(
        store, server.url("/artifacts/drop.bin"), sha256=digest, label="dropped", options=FAST
    )
    assert sha256_file(obj) == digest
    assert len(server.requests_for("/artifacts/drop.bin")) == 2


def test_retries_server_errors(store: Store, server: Any, helpers: ModuleType) -> None:
    digest = helpers.sha256(helpers.MODEL_BIN)
    obj, _ = fetch_to_store(
        store, server.url("/artifacts/flaky.bin"), sha256=digest, label="flaky", options=FAST
    )
    assert obj.read_bytes() == helpers.MODEL_BIN
    statuses = [h.status for h in server.requests_for("/artifacts/flaky.bin")]
    assert statuses == [500, 500, 200]


def test_gives_up_after_the_retries(store: Store, server: Any, helpers: ModuleType) -> None:
    server.behaviors["/artifacts/flaky.bin"].times = 100
    options = FetchOptions(retries=2, timeout=10, backoff=0.01)
    with pytest.raises(InstallError) as info:
        fetch_to_store(
            store, server.url("/artifacts/flaky.bin"), sha256=helpers.sha256(helpers.MODEL_BIN),
            label="artifact flaky of p", options=options,
        )  # fmt: skip
    err = info.value
    assert "artifact flaky of p" in err.message and "3 attempts" in err.message
    assert err.hint and err.where == server.url("/artifacts/flaky.bin")
    assert len(server.requests_for("/artifacts/flaky.bin")) == 3


def test_a_404_is_an_install_error_with_a_hint_and_no_retry(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    url = server.url("/artifacts/nowhere.bin")
    with pytest.raises(InstallError) as info:
        fetch_to_store(store, url, sha256="0" * 64, label="artifact nowhere.bin of p", options=FAST)
    err = info.value
    assert not isinstance(err, IntegrityError)
    assert "404" in err.message and "artifact nowhere.bin of p" in err.message
    assert err.where == url
    assert err.hint
    assert len(server.requests_for("/artifacts/nowhere.bin")) == 1
    assert not store.has("0" * 64)


def test_unreachable_host_is_an_install_error(store: Store) -> None:
    options = FetchOptions(retries=1, timeout=5, backoff=0.01)
    with pytest.raises(InstallError) as info:
        fetch_to_store(
            store, "http://127.0.0.1:9/x.bin", sha256="1" * 64, label="x", options=options
        )
    assert "2 attempts" in info.value.message and info.value.hint


def test_tampered_bytes_are_rejected_and_not_kept(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    expected = helpers.sha256(helpers.MODEL_BIN)
    with pytest.raises(IntegrityError) as info:
        fetch_to_store(
            store, server.url("/artifacts/tampered.bin"), sha256=expected,
            label="artifact tampered.bin of p", options=FAST,
        )  # fmt: skip
    err = info.value
    assert "artifact tampered.bin of p" in err.message
    assert expected in (err.why or "")
    assert helpers.sha256(helpers.TAMPERED_BIN) in (err.why or "")
    assert not store.has(expected)
    assert list(store.tmp.iterdir()) == [], "the rejected download is deleted"
    # the next attempt downloads again (nothing poisoned was cached)
    with pytest.raises(IntegrityError):
        fetch_to_store(
            store, server.url("/artifacts/tampered.bin"), sha256=expected, label="t", options=FAST
        )
    assert len(server.requests_for("/artifacts/tampered.bin")) == 2


def test_md5_only_artifact_is_stored_under_its_computed_sha256(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    obj, digest = fetch_to_store(
        store, server.url("/artifacts/model.bin"), sha256=None, md5=helpers.md5(helpers.MODEL_BIN),
        label="md5 model", options=FAST,
    )  # fmt: skip
    assert digest == helpers.sha256(helpers.MODEL_BIN)
    assert obj == store.path(digest)
    assert obj.read_bytes() == helpers.MODEL_BIN


def test_md5_only_artifact_is_found_in_the_store_offline(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    """Once an md5-only artifact is in the store, `--offline` (store and caches only) finds it
    again without the network, like every sha256-pinned artifact."""
    url = server.url("/artifacts/model.bin")
    digest = helpers.md5(helpers.MODEL_BIN)
    fetch_to_store(store, url, sha256=None, md5=digest, label="md5 model", options=FetchOptions())
    server.stop()
    obj, sha = fetch_to_store(
        store, url, sha256=None, md5=digest, label="md5 model", options=FetchOptions(offline=True)
    )
    assert sha == helpers.sha256(helpers.MODEL_BIN)
    assert obj.read_bytes() == helpers.MODEL_BIN


def test_md5_mismatch_is_an_integrity_error(store: Store, server: Any, helpers: ModuleType) -> None:
    wrong = helpers.md5(b"something else")
    with pytest.raises(IntegrityError) as info:
        fetch_to_store(
            store, server.url("/artifacts/model.bin"), sha256=None, md5=wrong, label="md5 model",
            options=FAST,
        )  # fmt: skip
    assert wrong in (info.value.why or "")
    assert helpers.md5(helpers.MODEL_BIN) in (info.value.why or "")
    assert not store.has(helpers.sha256(helpers.MODEL_BIN))
    assert list(store.tmp.iterdir()) == []


def test_offline_refuses_to_download(store: Store, server: Any, helpers: ModuleType) -> None:
    with pytest.raises(InstallError) as info:
        fetch_to_store(
            store, server.url("/artifacts/model.bin"), sha256=helpers.sha256(helpers.MODEL_BIN),
            label="artifact model.bin of p", options=FetchOptions(offline=True),
        )  # fmt: skip
    assert "--offline" in info.value.message and info.value.hint
    assert server.request_count() == 0


def test_local_files_are_copied_into_the_store(
    store: Store, tmp_path: Path, helpers: ModuleType
) -> None:
    src = tmp_path / "beside" / "model.onnx"
    src.parent.mkdir()
    src.write_bytes(helpers.SHIPPED_ONNX)
    digest = helpers.sha256(helpers.SHIPPED_ONNX)
    obj, _ = fetch_to_store(store, str(src), sha256=digest, label="local", options=FAST)
    assert obj.read_bytes() == helpers.SHIPPED_ONNX
    assert src.exists(), "the file beside the recipe is not moved away"
    obj2, _ = fetch_to_store(store, src.as_uri(), sha256=digest, label="local", options=FAST)
    assert obj2 == obj
    with pytest.raises(InstallError) as info:
        fetch_to_store(
            store, str(tmp_path / "missing.onnx"), sha256="2" * 64, label="gone", options=FAST
        )
    assert info.value.hint


def test_mirrors_rewrite_the_url_and_keep_the_hash(
    store: Store, server: Any, helpers: ModuleType
) -> None:
    assert (
        apply_mirrors("https://a.example/x/y.bin", {"https://a.example/": "http://m/"})
        == "http://m/x/y.bin"
    )
    assert (
        apply_mirrors("https://b.example/y", {"https://a.example/": "http://m/"})
        == "https://b.example/y"
    )
    digest = helpers.sha256(helpers.MODEL_BIN)
    options = FetchOptions(
        mirrors={"https://models.example.org/": server.url("/artifacts/")}, backoff=0.01
    )
    obj, _ = fetch_to_store(
        store,
        "https://models.example.org/model.bin",
        sha256=digest,
        label="mirrored",
        options=options,
    )
    assert obj.read_bytes() == helpers.MODEL_BIN
    assert len(server.requests_for("/artifacts/model.bin")) == 1


def _fetch_in_child(home: str, url: str, digest: str, barrier: Any) -> None:
    barrier.wait()
    fetch_to_store(Store(Path(home)), url, sha256=digest, label="shared", options=FAST)


def test_two_processes_fetching_one_object(store: Store, server: Any, helpers: ModuleType) -> None:
    digest = helpers.sha256(helpers.MODEL_BIN)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    url = server.url("/artifacts/model.bin")
    procs = [
        ctx.Process(target=_fetch_in_child, args=(str(store.home), url, digest, barrier))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sha256_file(store.path(digest)) == digest
    assert len(server.requests_for("/artifacts/model.bin")) == 1, "the second waits, then reuses"
