"""Fixtures for the conda layer: small real conda packages built by hand, indexed by
py-rattler, served from a folder inside the project (`./channel`) and from 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.envs.download import FetchOptions
from mlenv.envs.store import Store
from mlenv.target import Accelerator, Target

PLACEHOLDER = "/opt/conda-build-placeholder-prefix"

INDEX_SCRIPT = (
    "import asyncio, sys\n"
    "from rattler.index import index_fs\n"
    "asyncio.run(index_fs(sys.argv[1], write_zst=False, write_shards=False, force=True))\n"
)


def build_package(
    channel: Path,
    name: str,
    version: str,
    *,
    build: str = "0",
    depends: Sequence[str] = (),
    subdir: str = "linux-64",
    files: Mapping[str, bytes] | None = None,
    prefix_files: Sequence[str] = (),
) -> Path:
    """Write `<channel>/<subdir>/<name>-<version>-<build>.tar.bz2`, a minimal real package.

    `prefix_files` are text files in which conda replaces PLACEHOLDER by the install prefix.
    """
    files = dict(files or {f"share/{name}/data.txt": f"{name} {version}\n".encode()})
    index: dict[str, object] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "subdir": subdir,
        "license": "MIT",
        "timestamp": 1_700_000_000_000,
    }
    if subdir == "noarch":
        index.update(arch=None, platform=None, noarch="generic")
    else:
        index.update(arch="x86_64", platform="linux")
    entries = []
    for path, data in sorted(files.items()):
        entry: dict[str, object] = {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if path in prefix_files:
            entry.update(prefix_placeholder=PLACEHOLDER, file_mode="text")
        entries.append(entry)
    members = {
        "info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
        "info/paths.json": json.dumps({"paths": entries, "paths_version": 1}).encode(),
        "info/files": "".join(f"{p}\n" for p in sorted(files)).encode(),
        **files,
    }
    if prefix_files:
        members["info/has_prefix"] = "".join(
            f"{PLACEHOLDER} text {p}\n" for p in prefix_files
        ).encode()
    out = channel / subdir / f"{name}-{version}-{build}.tar.bz2"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:bz2") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if path.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return out


def index_channel(channel: Path) -> None:
    """Index with py-rattler in a subprocess (it may crash at interpreter exit): its files
    count once the repodata of both subdirs exists."""
    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    for subdir in ("linux-64", "noarch"):
        (channel / subdir / "repodata.json").unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT, str(channel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for subdir in ("linux-64", "noarch"):
        if not (channel / subdir / "repodata.json").is_file():
            raise RuntimeError(f"rattler index failed (rc {proc.returncode}):\n{proc.stderr}")
    shutil.rmtree(channel / ".tmp", ignore_errors=True)


def build_channel(channel: Path) -> None:
    hello = f"#!/bin/sh\necho hello from {PLACEHOLDER}\n".encode()
    build_package(channel, "tinylib", "1.0")
    build_package(channel, "tinylib", "2.0")
    build_package(
        channel,
        "tinytool",
        "1.0",
        depends=["tinylib >=1"],
        files={"bin/hello": hello},
        prefix_files=["bin/hello"],
    )
    build_package(channel, "tinydata", "1.0", subdir="noarch")
    build_package(channel, "cudapkg", "1.0", depends=["__cuda >=12"])
    build_package(channel, "glibpkg", "1.0", depends=["__glibc >=2.28"])
    build_package(channel, "archpkg", "1.0", depends=["__archspec 1 x86_64_v3"])
    index_channel(channel)


@pytest.fixture(scope="session")
def pristine_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    channel = tmp_path_factory.mktemp("pristine") / "channel"
    build_channel(channel)
    return channel


@pytest.fixture(scope="session")
def package_builder() -> Callable[..., Path]:
    return build_package


@pytest.fixture(scope="session")
def reindex() -> Callable[[Path], None]:
    return index_channel


@pytest.fixture
def project(tmp_path: Path, pristine_channel: Path) -> Path:
    """A project folder holding its own copy of the channel at `./channel`."""
    path = tmp_path / "project"
    path.mkdir()
    shutil.copytree(pristine_channel, path / "channel")
    return path


@dataclass
class Server:
    url: str
    httpd: http.server.ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The project folder over HTTP on 127.0.0.1; `server.url + '/channel'` is the channel."""
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    handler = functools.partial(_Quiet, directory=str(project))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    srv = Server(url=f"http://127.0.0.1:{httpd.server_address[1]}", httpd=httpd, thread=thread)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(home: Path) -> Store:
    return Store(home)


@pytest.fixture
def rattler_cache(home: Path) -> Path:
    return home / "cache" / "rattler"


@pytest.fixture
def fetch_options() -> FetchOptions:
    return FetchOptions(retries=0, timeout=10.0)


def make_target(
    *,
    name: str = "linux-x86_64-cuda12",
    cuda: str | None = "12.4",
    glibc: str = "2.28",
    microarch: str | None = "x86_64_v3",
) -> Target:
    return Target(
        name=name,
        os="linux",
        arch="x86_64",
        python="3.11",
        microarch=microarch,
        libc=(("glibc", glibc),),
        conda_platform="linux-64",
        accelerator=Accelerator(kind="cuda", cuda=cuda) if cuda else Accelerator(),
    )


@pytest.fixture(scope="session")
def target_factory() -> Callable[..., Target]:
    return make_target


@pytest.fixture
def cuda_target() -> Target:
    return make_target()


@pytest.fixture
def cpu_target() -> Target:
    return make_target(name="linux-x86_64-cpu", cuda=None)
