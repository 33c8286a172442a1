"""Issue 18: an sdist pin locks its PEP 517 build requirements, and the install builds it
offline from the store (the index server stopped) with uv's isolated build taking them there."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from localpypi import Wheel, Wheels, build_wheel, start_server

from mlenv.envs.download import FetchOptions
from mlenv.envs.store import Store
from mlenv.envs.venv import UvRunner, build_venv, fetch_wheels, venv_python
from mlenv.errors import ResolutionError
from mlenv.lock import PypiPin
from mlenv.lockfields import read_entry
from mlenv.reporter import NullReporter
from mlenv.resolver.buildreqs import DEFAULT_BUILD_REQUIRES, build_requires, with_build_pins
from mlenv.resolver.pypi import UvOptions, compile_pypi
from mlenv.target import Accelerator, Target
from mlenv.yamlio import Problems

# a tiny PEP 517 backend: builds a pure wheel of `<name>/` from [project] name and version
BACKEND = """
import base64, hashlib, os, tomllib, zipfile

def _project():
    with open("pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    name, version = p["name"], p["version"]
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": open(f"{name}/__init__.py", "rb").read()}
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n".encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: tinybackend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = "".join(f"{k},{_hash(v)},{len(v)}\\n" for k, v in files.items()) + f"{dist}/RECORD,,\\n"
    files[f"{dist}/RECORD"] = record.encode()
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return filename
"""

PYPROJECT = """\
[build-system]
requires = ["tinybackend>=1.0"]
build-backend = "tinybackend"

[project]
name = "tinysrc"
version = "1.0"
"""


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sdist(folder: Path) -> Wheel:
    """An sdist-only package served like a wheel by the local index (it has real metadata)."""
    path = folder / "tinysrc-1.0.tar.gz"
    path.write_bytes(
        _tar(
            {
                "tinysrc-1.0/pyproject.toml": PYPROJECT.encode(),
                "tinysrc-1.0/tinysrc/__init__.py": b'BUILT = "from the sdist"\n',
                "tinysrc-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: tinysrc\nVersion: 1.0\n",
            }
        )
    )
    meta = b"Metadata-Version: 2.1\nName: tinysrc\nVersion: 1.0\n"
    return Wheel(name="tinysrc", version="1.0", path=path, metadata=meta)


def _target() -> Target:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(
        name="linux-x86_64-cpu",
        os="linux",
        arch="x86_64",
        python=python,
        libc=(("glibc", "2.28"),),
        pypi_platform="x86_64-manylinux_2_28",
        accelerator=Accelerator(),
    )


def _uv() -> str:
    return shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def test_build_requires_reads_pyproject_and_defaults() -> None:
    data = _tar({"pkg-1/pyproject.toml": PYPROJECT.encode(), "pkg-1/x/pyproject.toml": b"["})
    assert build_requires(data, "pkg-1.tar.gz") == ("tinybackend>=1.0",)
    assert build_requires(_tar({"pkg-1/setup.py": b""}), "pkg-1.tar.gz") == DEFAULT_BUILD_REQUIRES
    no_system = _tar({"pkg-1/pyproject.toml": b"[project]\nname = 'pkg'\n"})
    assert build_requires(no_system, "pkg-1.tar.gz") == DEFAULT_BUILD_REQUIRES
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg-1/pyproject.toml", PYPROJECT)
    assert build_requires(buf.getvalue(), "pkg-1.zip") == ("tinybackend>=1.0",)


def test_build_pin_field_round_trips_in_the_lock() -> None:
    pin = PypiPin(
        name="tinybackend",
        version="1.0",
        url="https://example.org/tinybackend-1.0-py3-none-any.whl",
        sha256="0" * 64,
        build_for=("tinysrc",),
    )
    raw = dict(pin.to_dict())
    assert raw["build-for"] == ["tinysrc"]
    problems = Problems("mlenv.lock")
    loaded = read_entry(PypiPin, raw, "targets.t.pypi[0]", problems)
    assert not problems.items
    assert loaded == pin


def test_sdist_pin_locks_its_build_requirements_and_installs_offline(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    backend = build_wheel(
        folder, "tinybackend", "1.0", files={"tinybackend/__init__.py": BACKEND.encode()}
    )
    server = start_server(Wheels(folder=folder, all=(backend, _sdist(folder))))
    store = Store(tmp_path / "home")
    fetch = FetchOptions(retries=0, timeout=10.0)
    target = _target()
    try:
        options = UvOptions(
            uv=_uv(),
            index_url=server.index_url,
            cache_dir=tmp_path / "uvcache",
            environ={"PATH": os.environ.get("PATH", "")},
        )
        runtime = compile_pypi(["tinysrc"], target, options)
        assert [(p.name, p.filename) for p in runtime] == [("tinysrc", "tinysrc-1.0.tar.gz")]
        pins = with_build_pins(runtime, target, options)
        fetch_wheels(pins, store, fetch, NullReporter())  # what `mlenv fetch` does
    finally:
        server.stop()
    build_pins = [p for p in pins if p.build_for]
    assert [(p.name, p.version, p.build_for) for p in build_pins] == [
        ("tinybackend", "1.0", ("tinysrc",))
    ]
    assert build_pins[0].sha256 == backend.sha256
    with pytest.raises(ResolutionError, match="--offline cannot download"):
        with_build_pins(pins, target, dataclasses.replace(options, offline=True))

    venv = tmp_path / "env" / "venv"
    uv = UvRunner(
        uv=_uv(),
        cache_dir=tmp_path / "uvcache-install",
        environ={"PATH": os.environ.get("PATH", "")},
        offline=True,
    )
    build_venv(
        pins,
        venv,
        python=sys.executable,
        store=store,
        uv=uv,
        options=dataclasses.replace(fetch, offline=True),
        reporter=NullReporter(),
        scratch=tmp_path / "scratch",
    )
    out = subprocess.run(
        [str(venv_python(venv)), "-c", "import tinysrc; print(tinysrc.BUILT)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "from the sdist"
    probe = "import importlib.util as u; print(u.find_spec('tinybackend') is None)"
    gone = subprocess.run([str(venv_python(venv)), "-c", probe], capture_output=True, text=True)
    assert gone.stdout.strip() == "True"  # the build pin built the sdist; it is not in the env
