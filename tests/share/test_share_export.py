"""`mlenv export`: the pure writers on small lock sections, and the real formats' own tools
(`packaging.pylock`, `pip install --require-hashes`) on the offline project's lock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock, PylockValidationError

from mlenv.errors import UsageError
from mlenv.exporters import ExportContext, export
from mlenv.lock import ArtifactPin, CondaPin, LockTarget, PypiPin

SHA = {c: c * 64 for c in "abcdef"}
CEP23 = re.compile(
    r"(?:(?P<url_p>.+)(?:[/\\]))?(?P<fn>[^/\\#]+(?:\.tar\.bz2|\.conda))"
    r"(?:#((?P<md5>[0-9a-f]{32})|((sha256:)?(?P<sha256>[0-9a-f]{64}))))?$"
)


def section(**changes: Any) -> LockTarget:
    base: dict[str, Any] = {
        "facts": {"os": "linux", "arch": "x86_64", "python": "3.11", "accelerator": "none"},
        "pypi": (
            PypiPin(
                name="Zope.Interface",
                version="7.1",
                url="https://files.pythonhosted.org/p/zope_interface-7.1-cp311-cp311-linux_x86_64.whl",
                sha256=SHA["a"],
                size=1234,
            ),
            PypiPin(
                name="numpy",
                version="2.1.3",
                url="https://files.pythonhosted.org/p/numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl",
                sha256=SHA["b"],
            ),
            PypiPin(
                name="oldsdist",
                version="0.1",
                url="https://example.org/oldsdist-0.1.tar.gz",
                sha256=SHA["c"],
            ),
        ),
        "conda": (
            CondaPin(
                name="gcc",
                version="13.2.0",
                build="h1_0",
                subdir="linux-64",
                url="https://conda.anaconda.org/conda-forge/linux-64/gcc-13.2.0-h1_0.conda",
                sha256=SHA["d"],
            ),
            CondaPin(
                name="tzdata",
                version="2024a",
                build="h0",
                subdir="noarch",
                url="./channel/noarch/tzdata-2024a-h0.tar.bz2",
                sha256=SHA["e"],
            ),
        ),
        "artifacts": (
            ArtifactPin(
                name='we"ird.onnx', package="model", url="builtin:models/a\\b.onnx", sha256=SHA["f"]
            ),
        ),
    }
    base.update(changes)
    return LockTarget(name="linux-x86_64-cpu", **base)


def test_requirements_pin_every_file_by_hash() -> None:
    text = export("requirements", section())
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "numpy==2.1.3 \\",
        f"    --hash=sha256:{SHA['b']}",
        "oldsdist==0.1 \\",
        f"    --hash=sha256:{SHA['c']}",
        "zope-interface==7.1 \\",
        f"    --hash=sha256:{SHA['a']}",
    ]
    with pytest.raises(UsageError, match="pins no PyPI packages"):
        export("requirements", section(pypi=()))


def test_pylock_validates_with_packaging() -> None:
    text = export("pylock", section(), ExportContext(generator="mlenv 0.1.0"))
    data = tomllib.loads(text)
    lock = Pylock.from_dict(data)
    lock.validate()
    assert str(lock.lock_version) == "1.0" and lock.created_by == "mlenv 0.1.0"
    assert [str(m) for m in lock.environments or ()] == [
        'sys_platform == "linux" and platform_machine == "x86_64"'
    ]
    by_name = {p.name: p for p in lock.packages}
    assert set(by_name) == {"numpy", "oldsdist", "zope-interface"}
    zope = by_name["zope-interface"]
    assert zope.wheels is not None and zope.wheels[0].hashes == {"sha256": SHA["a"]}
    assert zope.wheels[0].size == 1234 and zope.index == "https://pypi.org/simple"
    sdist = by_name["oldsdist"].sdist
    assert (
        sdist is not None
        and sdist.hashes == {"sha256": SHA["c"]}
        and not by_name["oldsdist"].wheels
    )
    (artifact,) = data["tool"]["mlenv"]["artifacts"]
    assert artifact["name"] == 'we"ird.onnx' and artifact["url"] == "builtin:models/a\\b.onnx"


def test_pylock_validation_catches_a_broken_file() -> None:
    """The validator is real: a hash-less wheel is refused (so the test above means something)."""
    data = tomllib.loads(export("pylock", section()))
    del data["packages"][0]["wheels"][0]["hashes"]
    with pytest.raises(PylockValidationError):
        Pylock.from_dict(data)


def test_conda_explicit_is_cep23() -> None:
    text = export("conda-explicit", section(), ExportContext(base_dir=Path("/proj")))
    lines = text.splitlines()
    assert "# platform: linux-64" in lines and "@EXPLICIT" in lines
    urls = lines[lines.index("@EXPLICIT") + 1 :]
    assert urls == [
        f"https://conda.anaconda.org/conda-forge/linux-64/gcc-13.2.0-h1_0.conda#sha256:{SHA['d']}",
        f"file:///proj/channel/noarch/tzdata-2024a-h0.tar.bz2#sha256:{SHA['e']}",
    ]
    for url in urls:
        match = CEP23.fullmatch(url)
        assert match is not None and match.group("sha256") in (SHA["d"], SHA["e"])
    with pytest.raises(UsageError, match="pins no conda packages"):
        export("conda-explicit", section(conda=()))


def test_dockerfile() -> None:
    ctx = ExportContext(recipe_folders=("./recipes", "more/"), mlenv_spec="mlenv==0.1.0")
    text = export("dockerfile", section(), ctx)
    assert "FROM --platform=linux/amd64 python:3.11-slim" in text
    assert "COPY recipes/ ./recipes/" in text and "COPY more/ ./more/" in text
    assert "COPY mlenv.lock ./mlenv.lock" in text
    install = text.index("RUN mlenv install --frozen --target linux-x86_64-cpu")
    assert install < text.index('CMD ["mlenv", "run", "--frozen", "--target", "linux-x86_64-cpu"]')
    assert text.index('RUN pip install "${MLENV_SPEC}"') < install
    gpu = export(
        "dockerfile", section(facts={"os": "linux", "arch": "aarch64", "accelerator": "cuda"})
    )
    assert "--gpus all" in gpu and "linux/arm64" in gpu
    with pytest.raises(UsageError, match="container images run linux targets"):
        export("dockerfile", section(facts={"os": "darwin", "arch": "arm64"}))


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    return env


def test_requirements_install_with_pip_require_hashes(
    tmp_path: Path, server: Any, helpers: Any, mlenv: Callable[..., Any]
) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    done = mlenv(project, "export", "--format", "requirements", "-o", "req.txt")
    assert done.returncode == 0, str(done)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--require-hashes", "--no-deps"]
    pip += ["--index-url", server.index_url]
    ok = subprocess.run(
        [*pip, "-r", str(project.root / "req.txt")], capture_output=True, text=True, env=_pip_env()
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    probe = "import tinyalpha, tinybeta; print(tinyalpha.VERSION, tinybeta.VERSION)"
    versions = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
    )
    assert versions.stdout.split() == ["2.0", "1.0"]
    # the hashes are enforced: one wrong digit and pip refuses
    bad = tmp_path / "bad.txt"
    text = (project.root / "req.txt").read_text()
    first = re.findall(r"--hash=sha256:([0-9a-f]{64})", text)[0]
    bad.write_text(text.replace(first, ("1" if first[0] == "0" else "0") + first[1:], 1))
    refused = subprocess.run(
        [*pip, "--force-reinstall", "-r", str(bad)], capture_output=True, text=True, env=_pip_env()
    )
    assert refused.returncode != 0 and "HASH" in refused.stdout + refused.stderr.upper()


def test_export_command_pylock_and_stdout(
    tmp_path: Path, server: Any, helpers: Any, mlenv: Callable[..., Any]
) -> None:
    project = helpers.write_project(tmp_path / "project", tmp_path / "home", server)
    assert mlenv(project, "resolve").returncode == 0
    done = mlenv(project, "export", "--format", "pylock")
    assert done.returncode == 0, str(done)
    lock = Pylock.from_dict(tomllib.loads(done.stdout))
    lock.validate()
    chosen = {p.name: w.filename for p, w in lock.select()}  # type: ignore[union-attr]
    assert chosen == {
        "tinyalpha": "tinyalpha-2.0-py3-none-any.whl",
        "tinybeta": "tinybeta-1.0-py3-none-any.whl",
    }
    artifacts = tomllib.loads(done.stdout)["tool"]["mlenv"]["artifacts"]
    assert {a["package"] for a in artifacts} == {"remotemodel", "tinymodel", "tinytable"}
    none = mlenv(project, "export", "--format", "conda-explicit")
    helpers.assert_user_error(none, "pins no conda packages")
    usage = mlenv(project, "export", "--format", "nix")
    assert usage.returncode == 2
    docker = mlenv(project, "export", "--format", "dockerfile", "-o", "Dockerfile", "--json")
    assert docker.returncode == 0, str(docker)
    assert "COPY recipes/ ./recipes/" in (project.root / "Dockerfile").read_text()
    doc = json.loads(docker.stdout)
    assert doc["command"] == "export" and doc["ok"] is True and doc["error"] is None
    assert doc["data"]["format"] == "dockerfile"
    assert Path(doc["data"]["path"]).resolve() == (project.root / "Dockerfile").resolve()
    as_json = mlenv(project, "export", "--format", "pylock", "--json")
    assert json.loads(as_json.stdout)["data"]["content"] == done.stdout
