"""`mlenv install`: the environment folder, hard links into the store, env.json, no-op reinstall,
and a rebuild from the store alone with the server gone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlenv.lock import load_lock


def only_section(project: Any) -> Any:
    (section,) = load_lock(project.lock).targets.values()
    return section


def test_install_builds_the_environment(installed: Any, helpers: Any) -> None:
    section = only_section(installed)
    env = installed.env
    assert env == installed.env_dir(section.name)
    assert sorted(p.name for p in env.iterdir()) == ["artifacts", "env.json", "placed.json", "venv"]
    assert installed.leftovers() == []


def test_the_venv_imports_the_locked_wheels(installed: Any) -> None:
    python = installed.env / "venv" / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", "import tinybeta, tinyalpha; print(tinybeta.VERSION, tinyalpha.VERSION)"],
        capture_output=True, text=True, check=False, env={"PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "2.0"]
    # only the locked packages: the wheel-file wheel (tinydata) is not installed
    missing = subprocess.run(
        [str(python), "-c", "import tinydata"], capture_output=True, check=False
    )
    assert missing.returncode != 0


def test_artifacts_are_hard_links_into_the_store(installed: Any, helpers: Any) -> None:
    expected = {
        "remotemodel/model.bin": helpers.MODEL_BIN,
        "tinymodel/model.onnx": helpers.SHIPPED_ONNX,
        "tinytable/table.csv": helpers.TABLE_CSV,
    }
    files = sorted(
        str(p.relative_to(installed.env / "artifacts"))
        for p in (installed.env / "artifacts").rglob("*")
        if p.is_file()
    )
    assert files == sorted(expected)
    for rel, data in expected.items():
        placed = installed.env / "artifacts" / rel
        obj = installed.store_object(helpers.sha256(data))
        assert placed.read_bytes() == data
        assert os.stat(placed).st_ino == os.stat(obj).st_ino, f"{rel} is not a link to {obj}"
        assert os.stat(placed).st_nlink >= 2


def test_env_json_records_the_lock_digest(installed: Any, helpers: Any) -> None:
    section = only_section(installed)
    info = json.loads((installed.env / "env.json").read_text())
    assert info["lock"] == section.digest()
    assert info["target"] == section.name
    assert info["pypi"]["tinybeta"]["version"] == "1.0"
    assert info["artifacts"]["remotemodel/model.bin"]["sha256"] == helpers.sha256(helpers.MODEL_BIN)


def test_install_prints_the_env_path_on_stdout(resolved: Any, mlenv: Callable[..., Any]) -> None:
    result = mlenv(resolved, "install")
    assert result.returncode == 0, str(result)
    target = only_section(resolved).name
    assert result.stdout == f"{resolved.env_dir(target)}\n"
    as_json = mlenv(resolved, "install", "--json")
    assert as_json.returncode == 0, str(as_json)
    doc = json.loads(as_json.stdout)["data"]
    assert doc["path"] == str(resolved.env_dir(target)) and doc["built"] is False


def test_install_resolves_first_when_there_is_no_lock(
    project: Any, mlenv: Callable[..., Any]
) -> None:
    result = mlenv(project, "install")
    assert result.returncode == 0, str(result)
    assert project.lock.exists()
    assert Path(result.stdout.strip()).is_dir()


def test_a_second_install_is_a_fast_no_op(installed: Any, mlenv: Callable[..., Any]) -> None:
    env_json = installed.env / "env.json"
    before = (env_json.stat().st_mtime_ns, installed.env.stat().st_ino)
    requests = installed.server.request_count()
    again = mlenv(installed, "install")
    assert again.returncode == 0, str(again)
    assert again.stdout.strip() == str(installed.env)
    assert "up to date" in again.err
    assert (env_json.stat().st_mtime_ns, installed.env.stat().st_ino) == before, "nothing rebuilt"
    assert installed.server.request_count() == requests, "no network for a current environment"
    assert again.seconds < 10
    frozen = mlenv(installed, "install", "--frozen", "--offline")
    assert frozen.returncode == 0, str(frozen)
    assert env_json.stat().st_mtime_ns == before[0]


def test_frozen_offline_rebuilds_from_the_store_without_the_server(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    lock_bytes = installed.lock.read_bytes()
    shutil.rmtree(installed.root / ".mlenv")
    installed.server.stop()
    result = mlenv(installed, "install", "--frozen", "--offline")
    assert result.returncode == 0, str(result)
    assert result.stdout.strip() == str(installed.env)
    python = installed.env / "venv" / "bin" / "python"
    assert subprocess.run([str(python), "-c", "import tinybeta"], check=False).returncode == 0
    assert (
        installed.env / "artifacts" / "remotemodel" / "model.bin"
    ).read_bytes() == helpers.MODEL_BIN
    assert installed.lock.read_bytes() == lock_bytes
    assert installed.leftovers() == []
    verify = mlenv(installed, "verify")
    assert verify.returncode == 0, str(verify)


def test_offline_without_the_store_fails_cleanly(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    resolved.server.stop()
    result = mlenv(resolved, "install", "--frozen", "--offline")
    helpers.assert_user_error(result, "--offline")
    assert not resolved.envs.exists() or list(resolved.envs.iterdir()) == []


def test_md5_only_artifact_rebuilds_offline(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    """An md5-only artifact (CONTRACTS §2) is stored by its computed sha256; a later
    `--frozen --offline` rebuild finds it in the store like any other."""
    project = make_project(remote_md5=helpers.md5(helpers.MODEL_BIN))
    first = mlenv(project, "install")
    assert first.returncode == 0, str(first)
    (section,) = load_lock(project.lock).targets.values()
    remote = next(a for a in section.artifacts if a.package == "remotemodel")
    assert remote.md5 == helpers.md5(helpers.MODEL_BIN) and remote.sha256 is None
    shutil.rmtree(project.root / ".mlenv")
    project.server.stop()
    again = mlenv(project, "install", "--frozen", "--offline")
    assert again.returncode == 0, str(again)
    assert (Path(again.stdout.strip()) / "artifacts" / "remotemodel" / "model.bin").exists()


def test_python_m_mlenv_is_the_entry_point(project: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlenv", "--version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and out.stdout.startswith("mlenv ")
