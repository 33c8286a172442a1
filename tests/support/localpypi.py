"""Everything the env and CLI tests serve from this machine: hand-built wheels, a PEP 503 index
and artifact files on 127.0.0.1, and a project (manifest + recipes) that uses them.

Loaded by path from `tests/envs/conftest.py` and `tests/cli/conftest.py` (no top-level conftest),
so both folders share one implementation. Nothing here reaches the network.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- bytes the recipes pin ------------------------------------------------------------------------

MODEL_BIN = b"remote model weights\n" * 512  # served at /artifacts/model.bin
TAMPERED_BIN = MODEL_BIN[:-1] + b"!"  # same length, one byte differs
SHIPPED_ONNX = b"\x08\x07onnx-ish model shipped beside the recipe\n" * 16
TABLE_CSV = b"a,b,c\n1,2,3\n4,5,6\n"
SLOW_BIN = bytes(range(256)) * 256  # 64 KiB, sent in small slow pieces
DROP_BIN = bytes((i * 7) % 251 for i in range(200_000))  # dropped half-way once, then resumed
TABLE_MEMBER = "tinydata/data/table.csv"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# -- wheels ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path
    metadata: bytes

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return sha256(self.path.read_bytes())


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
) -> Wheel:
    """A real, installable pure-Python wheel (deterministic bytes: fixed zip dates)."""
    dist = f"{name}-{version}.dist-info"
    meta_lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta_lines += [f"Requires-Dist: {r}" for r in requires]
    metadata = ("\n".join(meta_lines) + "\n").encode()
    wheel_meta = (
        b"Wheel-Version: 1.0\nGenerator: mlenv-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    contents: dict[str, bytes] = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        **(files or {}),
        f"{dist}/METADATA": metadata,
        f"{dist}/WHEEL": wheel_meta,
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in contents.items())
    record += f"{dist}/RECORD,,\n"
    contents[f"{dist}/RECORD"] = record.encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in contents.items():
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    path.write_bytes(buf.getvalue())
    return Wheel(name=name, version=version, path=path, metadata=metadata)


@dataclass(frozen=True)
class Wheels:
    folder: Path
    all: tuple[Wheel, ...]

    def get(self, name: str, version: str) -> Wheel:
        return next(w for w in self.all if (w.name, w.version) == (name, version))

    def by_filename(self, filename: str) -> Wheel | None:
        return next((w for w in self.all if w.filename == filename), None)


def build_wheels(folder: Path) -> Wheels:
    wheels = (
        build_wheel(folder, "tinyalpha", "1.0"),
        build_wheel(folder, "tinyalpha", "2.0"),
        build_wheel(folder, "tinybeta", "1.0", requires=["tinyalpha"]),
        build_wheel(folder, "tinydata", "1.0", files={TABLE_MEMBER: TABLE_CSV}),
        build_wheel(folder, "tinyextra", "1.0"),
    )
    return Wheels(folder=folder, all=wheels)


# -- the HTTP server ------------------------------------------------------------------------------


@dataclass
class Behavior:
    """How one path misbehaves. kind: 'drop-once' (first GET stops half-way), 'fail' (HTTP 500
    `times` times), 'slow' (small pieces with `delay` seconds between them)."""

    kind: str
    times: int = 1
    delay: float = 0.05
    seen: int = 0


@dataclass
class Hit:
    method: str
    path: str
    range: str | None
    status: int = 0


@dataclass
class LocalServer:
    wheels: Wheels
    files: dict[str, bytes] = field(default_factory=dict)
    behaviors: dict[str, Behavior] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    _httpd: Any = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    slow_started: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.base}/simple"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def requests_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def request_count(self) -> int:
        with self._lock:
            return len(self.hits)

    def start(self) -> LocalServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

            def do_GET(self) -> None:
                server._handle(self, head=False)

        class Httpd(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients killed mid-transfer (the SIGKILL test) are expected

        self._httpd = Httpd(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- request handling ---------------------------------------------------------------------

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def _handle(self, h: http.server.BaseHTTPRequestHandler, *, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        hit = Hit(method="HEAD" if head else "GET", path=path, range=h.headers.get("Range"))
        self._record(hit)
        if path.startswith("/simple/"):
            name = path[len("/simple/") :].strip("/")
            page = self._simple_page(name)
            if page is None:
                return self._status(h, hit, 404)
            return self._send(h, hit, page.encode(), "text/html", head=head)
        if path.startswith("/files/"):
            filename = path[len("/files/") :]
            if filename.endswith(".metadata"):
                wheel = self.wheels.by_filename(filename[: -len(".metadata")])
                if wheel is None:
                    return self._status(h, hit, 404)
                return self._send(h, hit, wheel.metadata, "application/octet-stream", head=head)
            wheel = self.wheels.by_filename(filename)
            if wheel is None:
                return self._status(h, hit, 404)
            return self._send(
                h, hit, wheel.path.read_bytes(), "application/octet-stream", head=head
            )
        data = self.files.get(path)
        if data is None:
            return self._status(h, hit, 404)
        behavior = self.behaviors.get(path)
        if behavior is not None and not head:
            with self._lock:
                behavior.seen += 1
                seen = behavior.seen
            if behavior.kind == "fail" and seen <= behavior.times:
                return self._status(h, hit, 500)
            if behavior.kind == "drop-once" and seen == 1 and hit.range is None:
                return self._drop(h, hit, data)
            if behavior.kind == "slow" and behavior.delay > 0:
                return self._send(
                    h, hit, data, "application/octet-stream", head=head, slow=behavior
                )
        return self._send(h, hit, data, "application/octet-stream", head=head)

    def _simple_page(self, project: str) -> str | None:
        wanted = project.lower().replace("_", "-").replace(".", "-")
        links = []
        for w in self.wheels.all:
            if w.name.lower().replace("_", "-") != wanted:
                continue
            meta = sha256(w.metadata)
            links.append(
                f'<a href="{self.base}/files/{w.filename}#sha256={w.sha256}" '
                f'data-dist-info-metadata="sha256={meta}" data-core-metadata="sha256={meta}">'
                f"{w.filename}</a><br/>"
            )
        if not links:
            return None
        body = "\n".join(links)
        return f"<!DOCTYPE html><html><body><h1>Links for {wanted}</h1>\n{body}\n</body></html>\n"

    def _status(self, h: http.server.BaseHTTPRequestHandler, hit: Hit, code: int) -> None:
        hit.status = code
        body = f"{code}\n".encode()
        h.send_response(code)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _send(
        self,
        h: http.server.BaseHTTPRequestHandler,
        hit: Hit,
        data: bytes,
        content_type: str,
        *,
        head: bool,
        slow: Behavior | None = None,
    ) -> None:
        start, end = 0, len(data)
        status = 200
        if hit.range:
            spec = hit.range.strip()
            if not spec.startswith("bytes=") or "," in spec:
                return self._status(h, hit, 416)
            first, _, last = spec[len("bytes=") :].partition("-")
            if first == "":  # suffix range: the last N bytes
                start = max(0, len(data) - int(last))
            else:
                start = int(first)
                if last:
                    end = min(len(data), int(last) + 1)
            if start >= len(data):
                hit.status = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return None
            status = 206
        hit.status = status
        body = data[start:end]
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        h.end_headers()
        if head:
            return None
        if slow is None:
            h.wfile.write(body)
            return None
        self.slow_started.set()
        piece = 2048
        for i in range(0, len(body), piece):
            h.wfile.write(body[i : i + piece])
            h.wfile.flush()
            time.sleep(slow.delay)
        return None

    def _drop(self, h: http.server.BaseHTTPRequestHandler, hit: Hit, data: bytes) -> None:
        """Promise every byte, send half, then drop the connection."""
        hit.status = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)


def start_server(wheels: Wheels) -> LocalServer:
    server = LocalServer(wheels=wheels)
    server.files.update(
        {
            "/artifacts/model.bin": MODEL_BIN,
            "/artifacts/tampered.bin": TAMPERED_BIN,
            "/artifacts/slow.bin": SLOW_BIN,
            "/artifacts/drop.bin": DROP_BIN,
            "/artifacts/flaky.bin": MODEL_BIN,
        }
    )
    server.behaviors["/artifacts/slow.bin"] = Behavior(kind="slow", delay=0.05)
    server.behaviors["/artifacts/drop.bin"] = Behavior(kind="drop-once")
    server.behaviors["/artifacts/flaky.bin"] = Behavior(kind="fail", times=2)
    return server.start()


# -- environment for mlenv and uv -----------------------------------------------------------------

_DROP_PREFIXES = (
    "UV_",
    "MLENV_",
    "PIP_",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONHOME",
    "PYTHONPATH",
)
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def child_environ(
    home: Path, server: LocalServer | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a test runs mlenv with: its own MLENV_HOME, uv pointed at the local
    index, no proxies, a fixed host accelerator (no nvidia-smi), wide rich output."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(_DROP_PREFIXES) and k not in _PROXIES
    }
    env.update(
        {
            "MLENV_HOME": str(home),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "MLENV_HOST_CUDA": "none",
            "COLUMNS": "250",
        }
    )
    if server is not None:
        env["MLENV_PYPI_INDEX_URL"] = server.index_url  # mlenv gives uv no UV_* of the caller
    return env


# -- the project ----------------------------------------------------------------------------------


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass
class Project:
    root: Path
    home: Path
    server: LocalServer | None
    env: Path | None = None  # set once installed

    @property
    def manifest(self) -> Path:
        return self.root / "mlenv.yaml"

    @property
    def lock(self) -> Path:
        return self.root / "mlenv.lock"

    @property
    def recipes(self) -> Path:
        return self.root / "recipes"

    @property
    def envs(self) -> Path:
        return self.root / ".mlenv" / "envs"

    def env_dir(self, target: str) -> Path:
        return self.envs / target

    def leftovers(self) -> list[Path]:
        """Build folders (`.<target>.tmp-<pid>`) and swap folders left in `.mlenv/envs/`."""
        if not self.envs.exists():
            return []
        return sorted(
            p for p in self.envs.iterdir() if ".tmp-" in p.name or p.name.endswith(".old")
        )

    def store_object(self, digest: str) -> Path:
        return self.home / "store" / "sha256" / digest[:2] / digest

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
        return path

    def environ(self) -> dict[str, str]:
        return child_environ(self.home, self.server)


DEFAULT_REQUIRES = ("tinybeta", "tinymodel", "remotemodel", "tinytable")


def write_project(
    root: Path,
    home: Path,
    server: LocalServer | None,
    *,
    requires: Sequence[str] = DEFAULT_REQUIRES,
    remote_path: str = "/artifacts/model.bin",
    remote_sha256: str | None = None,
    remote_md5: str | None = None,
) -> Project:
    """A project with one recipe per source kind the tests exercise:

    - tinybeta (framework): `pypi: ["tinybeta=={version}"]` (pulls tinyalpha from the index)
    - tinymodel (model): an artifact shipped beside its recipe (`url: model.onnx`)
    - remotemodel (model): an artifact served by the local server
    - tinytable (dataset): `wheel-file` taking tinydata/data/table.csv out of tinydata 1.0
    """
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root=root, home=home, server=server)
    req_lines = "".join(f"  - {r}\n" for r in requires)
    (root / "mlenv.yaml").write_text(
        f"name: tinyproj\nrecipes: [./recipes]\ntargets: [host]\nrequires:\n{req_lines}",
        encoding="utf-8",
    )
    project.write(
        "recipes/frameworks/tinybeta.yaml",
        """
        name: tinybeta
        kind: framework
        summary: a tiny framework served by the local index
        versions: ["1.0"]
        install:
          - pypi: ["tinybeta=={version}"]
        """,
    )
    project.write(
        "recipes/models/tinymodel.yaml",
        f"""
        name: tinymodel
        kind: model
        summary: a model file shipped beside this recipe
        versions: ["1.0"]
        requires: ["tinybeta >=1"]
        install:
          - artifact: {{url: model.onnx, sha256: {sha256(SHIPPED_ONNX)}, size: {len(SHIPPED_ONNX)}}}
        """,
    )
    (root / "recipes/models/model.onnx").write_bytes(SHIPPED_ONNX)
    base = server.base if server is not None else "http://127.0.0.1:9"
    if remote_md5 is not None and remote_sha256 is None:
        checksum = f"md5: {remote_md5}"
    else:
        checksum = f"sha256: {remote_sha256 or sha256(MODEL_BIN)}"
    project.write(
        "recipes/models/remotemodel.yaml",
        f"""
        name: remotemodel
        kind: model
        summary: a model downloaded from the local server
        versions: ["1.0"]
        install:
          - artifact: {{url: "{base}{remote_path}", {checksum}}}
        """,
    )
    project.write(
        "recipes/datasets/tinytable.yaml",
        f"""
        name: tinytable
        kind: dataset
        summary: a table shipped inside the tinydata wheel
        versions: ["1.0"]
        install:
          - wheel-file:
              requirement: tinydata==1.0
              path: {TABLE_MEMBER}
              sha256: {sha256(TABLE_CSV)}
        """,
    )
    return project


# -- running mlenv --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def err(self) -> str:
        """stderr with runs of whitespace collapsed (rich may wrap long lines)."""
        return " ".join(self.stderr.split())

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_mlenv(
    project: Project, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Result:
    """`python -m mlenv ARGS…` in the project folder, as a user runs it."""
    import subprocess

    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=project.root,
        env=dict(env) if env is not None else project.environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def run_mlenv_at(
    folder: Path,
    home: Path,
    *args: str,
    extra: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """`python -m mlenv ARGS…` in `folder`, for the tests that reach the real PyPI: the caller's
    environment without its MLENV_*/UV_* variables, MLENV_HOME=`home`, then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLENV_", "UV_"))}
    env.update({"MLENV_HOME": str(home), **(extra or {})})
    return subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_user_error(result: Result, *needles: str) -> None:
    """Exit 1, an `error:` line and a `hint:` on stderr, every needle present, no traceback."""
    assert result.returncode == 1, str(result)
    assert "Traceback" not in result.stderr + result.stdout, str(result)
    assert "internal error" not in result.stderr, str(result)
    assert "error:" in result.stderr, str(result)
    assert "hint:" in result.stderr, str(result)
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in stderr\n{result}"


def run_in_process(
    monkeypatch: Any, capsys: Any, folder: Path, args: Sequence[str], env: Mapping[str, str]
) -> Result:
    """`mlenv.cli.main.main(args)` in this process, in `folder`, with exactly `env` as the
    environment (cheaper than a subprocess where the test needs no isolation)."""
    from mlenv.cli.main import main

    with monkeypatch.context() as m:
        for key in list(os.environ):
            if key not in env:
                m.delenv(key, raising=False)
        for key, value in env.items():
            m.setenv(key, value)
        m.chdir(folder)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
        out, err = capsys.readouterr()
    return Result(code, out, err)
