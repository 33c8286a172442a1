"""Installing locked conda packages from the store with py-rattler (envs/conda.py), offline."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlenv.envs.conda import build_conda
from mlenv.envs.download import FetchOptions
from mlenv.envs.store import Store
from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import CondaPin
from mlenv.reporter import NullReporter
from mlenv.resolver.conda import lock_conda
from mlenv.sources import CondaSource
from mlenv.target import Target

SPECS = ("tinytool", "tinydata")


def lock(channel: str, project: Path, cache: Path, target: Target) -> list[CondaPin]:
    return lock_conda(
        [CondaSource(channels=(channel,), specs=SPECS)],
        target,
        cache_dir=cache,
        project_dir=project,
    )


def install(
    pins: list[CondaPin],
    prefix: Path,
    *,
    store: Store,
    options: FetchOptions,
    project: Path,
    cache: Path,
    final_prefix: Path | None = None,
) -> None:
    build_conda(
        pins,
        prefix,
        store=store,
        options=options,
        reporter=NullReporter(),
        project_dir=project,
        cache_dir=cache,
        final_prefix=final_prefix,
    )


def assert_installed(prefix: Path, pins: list[CondaPin]) -> None:
    assert (prefix / "share/tinylib/data.txt").read_text() == "tinylib 2.0\n"
    assert (prefix / "share/tinydata/data.txt").read_text() == "tinydata 1.0\n"
    for pin in pins:
        meta = json.loads(
            (prefix / f"conda-meta/{pin.name}-{pin.version}-{pin.build}.json").read_text()
        )
        assert meta["sha256"] == pin.sha256
    assert len(list((prefix / "conda-meta").glob("*.json"))) == len(pins)


def test_relative_channel_installs_into_a_prefix(
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pins = lock("./channel", project, rattler_cache, cuda_target)
    monkeypatch.chdir(tmp_path)  # `./channel/…` URLs are relative to the project
    prefix = tmp_path / "env" / "conda"
    install(pins, prefix, store=store, options=fetch_options, project=project, cache=rattler_cache)
    assert_installed(prefix, pins)
    assert all(store.has(p.sha256) for p in pins)
    out = subprocess.run([prefix / "bin/hello"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"hello from {prefix}"


def test_final_prefix_is_written_into_prefixed_files(
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
) -> None:
    pins = lock("./channel", project, rattler_cache, cuda_target)
    build = tmp_path / ".env.tmp-1" / "conda"
    final = tmp_path / "env" / "conda"
    install(
        pins,
        build,
        store=store,
        options=fetch_options,
        project=project,
        cache=rattler_cache,
        final_prefix=final,
    )
    assert (build / "bin/hello").read_text().strip().endswith(f"hello from {final}")


def test_http_channel_installs_then_reinstalls_offline_from_the_store(
    server,
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
) -> None:
    pins = lock(f"{server.url}/channel", project, rattler_cache, cuda_target)
    assert all(p.url.startswith(server.url) for p in pins)
    first = tmp_path / "one"
    install(pins, first, store=store, options=fetch_options, project=project, cache=rattler_cache)
    assert_installed(first, pins)
    server.stop()
    second = tmp_path / "two"
    install(
        pins,
        second,
        store=store,
        options=replace(fetch_options, offline=True),
        project=project,
        cache=tmp_path / "fresh-rattler-cache",  # nothing extracted yet: the store alone
    )
    assert_installed(second, pins)


def test_offline_without_the_store_fails_clearly(
    server,
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
) -> None:
    pins = lock(f"{server.url}/channel", project, rattler_cache, cuda_target)
    with pytest.raises(InstallError, match="--offline"):
        install(
            pins,
            tmp_path / "env",
            store=store,
            options=replace(fetch_options, offline=True),
            project=project,
            cache=rattler_cache,
        )


def test_tampered_package_fails_with_integrity_error(
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
    package_builder: Callable[..., Path],
    reindex: Callable[[Path], None],
) -> None:
    pins = lock("./channel", project, rattler_cache, cuda_target)
    locked = next(p for p in pins if p.name == "tinylib")
    # A valid package under the same name, version and build, with other bytes (and a
    # re-indexed channel, so that nothing but mlenv's own check can notice).
    package_builder(
        project / "channel", "tinylib", "2.0", files={"share/tinylib/data.txt": b"evil\n"}
    )
    reindex(project / "channel")
    prefix = tmp_path / "env"
    with pytest.raises(IntegrityError) as info:
        install(
            pins, prefix, store=store, options=fetch_options, project=project, cache=rattler_cache
        )
    err = info.value
    assert "tinylib-2.0-0.tar.bz2" in err.message
    assert err.details["expected"] == locked.sha256
    assert err.details["actual"] != locked.sha256
    assert locked.sha256 in (err.why or "") and err.details["actual"] in (err.why or "")
    assert not store.has(err.details["actual"])
    assert not (prefix / "share/tinylib/data.txt").exists()


def test_lock_naming_other_bytes_is_refused(
    project: Path,
    store: Store,
    fetch_options: FetchOptions,
    rattler_cache: Path,
    cuda_target: Target,
    tmp_path: Path,
) -> None:
    pins = lock("./channel", project, rattler_cache, cuda_target)
    lib = next(p for p in pins if p.name == "tinylib")
    edited = [replace(lib, version="1.0", build="0")]  # a hand-edited lock: url still 2.0
    with pytest.raises(InstallError, match=r"holds tinylib/2\.0"):
        install(
            edited,
            tmp_path / "env",
            store=store,
            options=fetch_options,
            project=project,
            cache=rattler_cache,
        )


def test_no_pins_installs_nothing(
    project: Path, store: Store, fetch_options: FetchOptions, tmp_path: Path
) -> None:
    install(
        [], tmp_path / "env", store=store, options=fetch_options, project=project, cache=tmp_path
    )
    assert not (tmp_path / "env").exists()
