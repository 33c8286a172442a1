"""Helpers of the catalog tests (fixtures in conftest.py): `python -m mlenv` in a project folder
with its own MLENV_HOME, and a 127.0.0.1 server that plays the upstream hosts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

UPSTREAM = "https://upstream.example/"
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def child_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment mlenv runs with: its own home, no user mlenv/uv/pip settings, no GPU."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLENV_", "UV_", "PIP_")) and k not in _PROXIES
    }
    env.update(
        {
            "MLENV_HOME": str(home),
            "MLENV_HOST_CUDA": "none",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "COLUMNS": "200",
        }
    )
    env.update(extra or {})
    return env


def run_mlenv(
    cwd: Path, home: Path, *args: str, env: Mapping[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env=child_env(home, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# -- a local server for the upstream hosts -------------------------------------------------------


@dataclass
class Upstream:
    """Serves `files` (path -> bytes) on 127.0.0.1 and records every request path."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def mirror(self) -> str:
        """MLENV_MIRROR: the recipes' upstream prefix rewritten to this server."""
        return f"{UPSTREAM}={self.base}"

    def add(self, path: str, data: bytes) -> str:
        self.files[path.lstrip("/")] = data
        return UPSTREAM + path.lstrip("/")

    def add_wheel_index(self, project: str, filename: str, data: bytes) -> str:
        """A PEP 503 page for one wheel at simple/<project>/; returns the index URL."""
        self.files[f"wheels/{filename}"] = data
        link = f'<a href="{self.base}wheels/{filename}#sha256={sha256(data)}">{filename}</a>'
        page = f"<!DOCTYPE html><html><body>{link}</body></html>"
        self.files[f"simple/{project}/"] = page.encode()
        return f"{self.base}simple/"
