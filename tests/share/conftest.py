"""Fixtures for pack/reproduce/diff/export: the offline project of `tests/support/localpypi.py`
(wheels and artifacts served from 127.0.0.1), and an environment in which mlenv cannot reach
anything but 127.0.0.1 (dead proxies plus a `sitecustomize.py` that refuses other sockets and
logs every subprocess, so a test can check how uv was started)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import localpypi
import pytest

H = localpypi
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there

SITECUSTOMIZE = textwrap.dedent(
    '''
    """Installed by tests/share: no socket may leave 127.0.0.1; every subprocess is logged."""
    import json, os, socket, subprocess

    _LOG = os.environ.get("MLENV_TEST_EXEC_LOG")
    _LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


    def _log(entry):
        if _LOG:
            with open(_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\\n")


    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo


    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            _log({"blocked": str(address)})
            raise ConnectionRefusedError(f"tests/share: network blocked ({address[0]})")


    def connect(self, address):
        _check(self, address)
        return _connect(self, address)


    def connect_ex(self, address):
        _check(self, address)
        return _connect_ex(self, address)


    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK:
            _log({"blocked": f"dns {name}"})
            raise socket.gaierror(socket.EAI_NONAME, f"tests/share: DNS blocked ({name})")
        return _getaddrinfo(host, *args, **kwargs)


    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    _popen_init = subprocess.Popen.__init__


    def _init(self, args, *rest, **kwargs):
        env = kwargs.get("env") or os.environ
        argv = [str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)]
        _log({"argv": argv, "UV_OFFLINE": env.get("UV_OFFLINE")})
        return _popen_init(self, args, *rest, **kwargs)


    subprocess.Popen.__init__ = _init
    _log({"loaded": True})
    '''
)


class Guard:
    """Cuts the network off for a child process: dead proxies for proxied clients and a
    `sitecustomize.py` that refuses sockets (and DNS) beyond 127.0.0.1 and logs every
    subprocess with its argv, so a test can check how uv was started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        site = self.folder / "site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        env = {k: v for k, v in base.items() if k.lower() != "no_proxy"}
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            env[key] = DEAD_PROXY
        env["PYTHONPATH"] = str(site)
        env["MLENV_TEST_EXEC_LOG"] = str(self.folder / "exec.log")
        return env

    def log(self) -> list[dict[str, Any]]:
        path = self.folder / "exec.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def assert_offline(self) -> None:
        """The guard was active, nothing was blocked, and uv only ever ran offline."""
        log = self.log()
        assert any(e.get("loaded") for e in log), "sitecustomize.py was not loaded"
        blocked = [e for e in log if "blocked" in e]
        assert not blocked, blocked
        uv_runs = [e for e in log if "argv" in e and Path(e["argv"][0]).name == "uv"]
        assert uv_runs, "uv never ran"
        for entry in uv_runs:
            argv = entry["argv"]
            offline = entry["UV_OFFLINE"] == "1" or "--offline" in argv or "--no-index" in argv
            assert offline, argv


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    return Guard(tmp_path / "guard")


@pytest.fixture
def mlenv_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., Any]:
    """mlenv_cli(folder, *args) -> Result: `mlenv.cli.main.main(args)` in-process, in `folder`,
    with its own MLENV_HOME and no network settings."""

    def _run(folder: Path, *args: str) -> Any:
        env = H.child_environ(tmp_path / "home", None)
        return H.run_in_process(monkeypatch, capsys, folder, args, env)

    return _run


@pytest.fixture
def installed(tmp_path: Path, server: Any, mlenv: Callable[..., Any]) -> Any:
    """The offline project, resolved and installed (its store filled) under tmp_path."""
    project = H.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    result = mlenv(project, "install")
    assert result.returncode == 0, str(result)
    project.env = Path(result.stdout.strip())
    return project
