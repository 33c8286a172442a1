"""uv runs isolated (issue 18): no uv.toml, no parent `[tool.uv]`, no UV_* of the shell can
change a lock or an install; what may change a lock is the manifest's `pypi-options:`."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock
from uv import find_uv_bin

from mlenv.errors import MlenvError
from mlenv.lock import PypiPin
from mlenv.manifest import load_manifest
from mlenv.resolver.pypi import preferences_file
from mlenv.uvenv import PypiOptions, uv_environ

DEAD = "http://127.0.0.1:1/simple"
HOSTILE_UV_TOML = f"""
index-url = "{DEAD}"
exclude-newer = "2000-01-01T00:00:00Z"

[pip]
no-binary = [":all:"]
"""
HOSTILE_ENV = {
    "UV_INDEX_URL": DEAD,
    "UV_DEFAULT_INDEX": DEAD,
    "UV_EXTRA_INDEX_URL": DEAD,
    "UV_EXCLUDE_NEWER": "2000-01-01T00:00:00Z",
    "UV_PYTHON": "/nonexistent/python",
    "UV_CONSTRAINT": "/nonexistent/constraints.txt",
    "UV_NO_BINARY": "1",
    "UV_CONFIG_FILE": "/nonexistent/uv.toml",
}


def make_hostile(project: Any) -> dict[str, str]:
    """uv.toml in the project and its parent, `[tool.uv]` in the parent's pyproject.toml, and
    UV_* variables; returns the environment with them."""
    parent = project.root.parent
    (project.root / "uv.toml").write_text(HOSTILE_UV_TOML, encoding="utf-8")
    (parent / "uv.toml").write_text(HOSTILE_UV_TOML, encoding="utf-8")
    (parent / "pyproject.toml").write_text(
        f'[project]\nname = "parent"\nversion = "0"\n\n[tool.uv]\nindex-url = "{DEAD}"\n',
        encoding="utf-8",
    )
    return {**project.environ(), **HOSTILE_ENV}


def test_uv_environ_is_an_allow_list() -> None:
    env = uv_environ(
        {
            "PATH": "/bin",
            "HOME": "/h",
            "LC_ALL": "C",
            "HTTPS_PROXY": "http://proxy:3128",
            "no_proxy": "localhost",
            "SSL_CERT_FILE": "/ca.pem",
            "UV_CACHE_DIR": "/c",
            "UV_INDEX_INTERNAL_USERNAME": "me",
            "UV_INDEX_INTERNAL_PASSWORD": "secret",
            "VIRTUAL_ENV": "/venv",
            "CONDA_PREFIX": "/conda",
            "PYTHONPATH": "/p",
            "MLENV_PYPI_INDEX_URL": "http://x/simple",
            **HOSTILE_ENV,
        }
    )
    assert env == {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "localhost",
        "SSL_CERT_FILE": "/ca.pem",
        "UV_CACHE_DIR": "/c",
        "UV_INDEX_INTERNAL_USERNAME": "me",
        "UV_INDEX_INTERNAL_PASSWORD": "secret",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
    }


def test_pypi_options_flags_and_index_fallback() -> None:
    options = PypiOptions(
        index_url="https://mirror/simple",
        extra_index_urls=("https://a/simple", "https://b/simple"),
        exclude_newer="2025-06-01",
    )
    assert options.flags({"MLENV_PYPI_INDEX_URL": "http://ignored/simple"}) == [
        "--index-url",
        "https://mirror/simple",
        "--extra-index-url",
        "https://a/simple",
        "--extra-index-url",
        "https://b/simple",
        "--exclude-newer",
        "2025-06-01",
    ]
    assert PypiOptions().flags({"MLENV_PYPI_INDEX_URL": "http://local/simple"}) == [
        "--index-url",
        "http://local/simple",
    ]
    assert PypiOptions().flags({"UV_INDEX_URL": DEAD}) == []


def test_the_manifest_reads_pypi_options(tmp_path: Path) -> None:
    path = tmp_path / "mlenv.yaml"
    path.write_text(
        "name: p\nrequires: [x]\npypi-options:\n  index-url: https://mirror/simple\n"
        "  extra-index-urls: [https://extra/simple]\n  exclude-newer: 2025-06-01\n",
        encoding="utf-8",
    )
    manifest = load_manifest(path)
    assert manifest.pypi_options == PypiOptions(
        index_url="https://mirror/simple",
        extra_index_urls=("https://extra/simple",),
        exclude_newer="2025-06-01",
    )
    assert manifest.to_dict()["pypi-options"]["exclude-newer"] == "2025-06-01"
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: p\nrequires: [x]\n", encoding="utf-8")
    assert "pypi-options" not in load_manifest(plain).to_dict()  # older digests stay
    assert load_manifest(plain).digest() != manifest.digest()


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ("  exclude-newer: 2025-06-01T00:00:00\n", "time zone"),
        ("  exclude-newer: next week\n", "RFC 3339"),
        ("  index-url: mirror.example/simple\n", "URL"),
        ("  extra-index-url: https://x/simple\n", "extra-index-url"),
    ],
)
def test_bad_pypi_options_are_user_errors(tmp_path: Path, options: str, needle: str) -> None:
    path = tmp_path / "mlenv.yaml"
    path.write_text(f"name: p\nrequires: [x]\npypi-options:\n{options}", encoding="utf-8")
    with pytest.raises(MlenvError) as caught:
        load_manifest(path)
    assert needle in repr(getattr(caught.value, "problems", None))


def test_the_preferences_file_is_a_valid_pylock() -> None:
    pins = [
        PypiPin(
            name="Zope.Interface",
            version="7.1",
            url="https://files/zope_interface-7.1-cp311-cp311-manylinux_2_17_x86_64.whl",
            sha256="a" * 64,
            size=10,
        ),
        PypiPin(
            name="oldsdist", version="1.0", url="https://files/oldsdist-1.0.tar.gz", sha256="b" * 64
        ),
    ]
    lock = Pylock.from_dict(tomllib.loads(preferences_file(pins)))
    lock.validate()
    assert {(p.name, str(p.version)) for p in lock.packages} == {
        ("zope-interface", "7.1"),
        ("oldsdist", "1.0"),
    }


def test_hostile_uv_configuration_does_not_change_the_lock(project: Any, mlenv: Any) -> None:
    clean = mlenv(project, "resolve")
    assert clean.returncode == 0, str(clean)
    expected = project.lock.read_bytes()
    project.lock.unlink()
    hostile = make_hostile(project)
    # the hostile setup is real: uv left to itself in the project folder cannot lock
    (project.root / "req.in").write_text("tinybeta==1.0\n", encoding="utf-8")
    raw = subprocess.run(
        [find_uv_bin(), "pip", "compile", "req.in", "--offline", "--quiet"],
        cwd=project.root,
        env=hostile,
        capture_output=True,
        text=True,
        check=False,
    )
    assert raw.returncode != 0, raw.stdout
    again = mlenv(project, "resolve", "-v", env=hostile)
    assert again.returncode == 0, str(again)
    assert project.lock.read_bytes() == expected
    assert "--no-config" in again.stderr
    installed = mlenv(project, "install", env=hostile)
    assert installed.returncode == 0, str(installed)


def test_pypi_options_are_lock_inputs(project: Any, mlenv: Any) -> None:
    assert mlenv(project, "resolve").returncode == 0
    text = project.manifest.read_text(encoding="utf-8")
    with_index = text + f'pypi-options:\n  index-url: "{project.server.index_url}"\n'
    project.manifest.write_text(with_index, encoding="utf-8")
    check = mlenv(project, "resolve", "--check")
    assert check.returncode == 1 and "changed" in check.err, str(check)
    # the manifest's index wins over MLENV_PYPI_INDEX_URL
    env = {**project.environ(), "MLENV_PYPI_INDEX_URL": DEAD}
    done = mlenv(project, "resolve", env=env)
    assert done.returncode == 0, str(done)
    assert mlenv(project, "resolve", "--check", env=env).returncode == 0
    # exclude-newer reaches uv: the local index publishes no upload times, so nothing is left
    project.manifest.write_text(with_index + '  exclude-newer: "2100-01-01T00:00:00Z"\n')
    assert mlenv(project, "resolve", "--check").returncode == 1
    refused = mlenv(project, "resolve", "-v")
    assert refused.returncode == 1 and "--exclude-newer 2100-01-01T00:00:00Z" in refused.err
    assert "publish time" in refused.err, str(refused)
