"""`materialize`: a lock section becomes `.mlenv/envs/<target>/` atomically, or nothing at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from uv import find_uv_bin

from mlenv.envs.artifacts import ArtifactContext
from mlenv.envs.download import FetchOptions
from mlenv.envs.materialize import is_current, materialize, read_env, verify_env
from mlenv.envs.store import Store
from mlenv.envs.venv import UvRunner
from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import ArtifactPin, LockTarget, PypiPin
from mlenv.paths import builtin_recipes_dir

TARGET = "test-target"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append(message)

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, label: str, amount: int) -> None:
        pass

    def done(self, label: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """uv and urllib see the test environment (local index, no proxies)."""


@pytest.fixture
def project_dir(tmp_path: Path, helpers: ModuleType) -> Path:
    folder = tmp_path / "project"
    (folder / "recipes" / "models").mkdir(parents=True)
    (folder / "recipes" / "models" / "model.onnx").write_bytes(helpers.SHIPPED_ONNX)
    return folder


@pytest.fixture
def reporter() -> Recorder:
    return Recorder()


@pytest.fixture
def actx(store: Store, project_dir: Path, reporter: Recorder) -> ArtifactContext:
    return ArtifactContext(
        store=store, project_dir=project_dir, builtin_dir=builtin_recipes_dir(),
        options=FetchOptions(retries=1, timeout=10, backoff=0.01), reporter=reporter, environ={},
    )  # fmt: skip


@pytest.fixture
def uv(home: Path) -> UvRunner:
    return UvRunner(uv=str(find_uv_bin()), cache_dir=home / "cache" / "uv")


def pins(server: Any, wheels: Any) -> tuple[PypiPin, ...]:
    out = []
    for name, version in (("tinyalpha", "2.0"), ("tinybeta", "1.0")):
        w = wheels.get(name, version)
        out.append(
            PypiPin(
                name=name, version=version, url=server.url(f"/files/{w.filename}"), sha256=w.sha256
            )
        )
    return tuple(out)


def good_artifacts(server: Any, wheels: Any, helpers: ModuleType) -> tuple[ArtifactPin, ...]:
    data = wheels.get("tinydata", "1.0")
    return (
        ArtifactPin(name="model.bin", package="remotemodel", url=server.url("/artifacts/model.bin"),
                    sha256=helpers.sha256(helpers.MODEL_BIN)),
        ArtifactPin(name="model.onnx", package="tinymodel", url="./recipes/models/model.onnx",
                    sha256=helpers.sha256(helpers.SHIPPED_ONNX)),
        ArtifactPin(name="table.csv", package="tinytable", url=server.url(f"/files/{data.filename}"),
                    sha256=data.sha256, member=helpers.TABLE_MEMBER,
                    member_sha256=helpers.sha256(helpers.TABLE_CSV)),
    )  # fmt: skip


def section(server: Any, wheels: Any, helpers: ModuleType, *extra: ArtifactPin) -> LockTarget:
    return LockTarget(
        name=TARGET,
        facts={"os": "linux", "python": f"{sys.version_info[0]}.{sys.version_info[1]}"},
        pypi=pins(server, wheels),
        artifacts=(*good_artifacts(server, wheels, helpers), *extra),
    )


def leftovers(parent: Path) -> list[str]:
    if not parent.exists():
        return []
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_materialize_builds_the_environment(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
    store: Store,
) -> None:  # fmt: skip
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    sec = section(server, wheels, helpers)
    env, built = materialize(sec, env_dir, python=sys.executable, uv=uv, ctx=actx)
    assert built and env.path == env_dir
    info = json.loads((env_dir / "env.json").read_text())
    assert info["lock"] == sec.digest()
    assert info["target"] == TARGET
    assert set(info["pypi"]) == {"tinyalpha", "tinybeta"}
    out = subprocess.run(
        [str(env.python), "-c", "import tinybeta, tinyalpha; print(tinyalpha.VERSION)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "2.0"
    expected = {
        "remotemodel/model.bin": helpers.MODEL_BIN,
        "tinymodel/model.onnx": helpers.SHIPPED_ONNX,
        "tinytable/table.csv": helpers.TABLE_CSV,
    }
    for rel, data in expected.items():
        placed = env_dir / "artifacts" / rel
        assert placed.read_bytes() == data
        assert os.stat(placed).st_ino == os.stat(store.path(helpers.sha256(data))).st_ino, rel
    assert env.artifact("tinytable") == [env_dir / "artifacts" / "tinytable" / "table.csv"]
    assert not (env_dir / ".scratch").exists()
    assert leftovers(env_dir.parent) == []
    assert verify_env(sec, env_dir) == []
    assert is_current(env_dir, sec) is not None

    again, built_again = materialize(sec, env_dir, python=sys.executable, uv=uv, ctx=actx)
    assert not built_again and again.path == env_dir


def test_failure_after_the_venv_leaves_nothing(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
    reporter: Recorder,
) -> None:  # fmt: skip
    missing = ArtifactPin(
        name="zz.bin", package="zzmissing", url=server.url("/artifacts/zz.bin"), sha256="3" * 64
    )
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    with pytest.raises(InstallError) as info:
        materialize(
            section(server, wheels, helpers, missing),
            env_dir,
            python=sys.executable,
            uv=uv,
            ctx=actx,
        )
    assert "404" in info.value.message
    assert any("creating the Python environment" in m for m in reporter.messages), (
        "the venv was built"
    )
    assert any("placing remotemodel" in m for m in reporter.messages), "artifacts were placed first"
    assert not env_dir.exists()
    assert leftovers(env_dir.parent) == []


def test_a_failed_rebuild_keeps_the_previous_environment(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
) -> None:  # fmt: skip
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    good = section(server, wheels, helpers)
    materialize(good, env_dir, python=sys.executable, uv=uv, ctx=actx)
    before = (env_dir / "env.json").read_text()
    # bytes not in the store yet (the store is content-addressed: a known sha256 needs no download)
    tampered = ArtifactPin(name="tampered.bin", package="zz", url=server.url("/artifacts/tampered.bin"),
                           sha256=helpers.sha256(b"what the recipe promised"))  # fmt: skip
    bad = section(server, wheels, helpers, tampered)
    with pytest.raises(IntegrityError):
        materialize(bad, env_dir, python=sys.executable, uv=uv, ctx=actx)
    assert (env_dir / "env.json").read_text() == before
    assert verify_env(good, env_dir) == []
    assert leftovers(env_dir.parent) == []


def test_force_rebuilds_and_swaps_in_place(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
) -> None:  # fmt: skip
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    sec = section(server, wheels, helpers)
    materialize(sec, env_dir, python=sys.executable, uv=uv, ctx=actx)
    marker = env_dir / "stray-file"
    marker.write_text("x")
    _, built = materialize(sec, env_dir, python=sys.executable, uv=uv, ctx=actx, force=True)
    assert built and not marker.exists()
    assert verify_env(sec, env_dir) == []
    assert leftovers(env_dir.parent) == []


def test_build_folders_of_dead_processes_are_swept(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
) -> None:  # fmt: skip
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    env_dir.parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = env_dir.parent / f".{TARGET}.tmp-{dead.pid}"
    (stale / "venv").mkdir(parents=True)
    old = env_dir.parent / f".{TARGET}.old"
    old.mkdir()
    materialize(section(server, wheels, helpers), env_dir, python=sys.executable, uv=uv, ctx=actx)
    assert not stale.exists() and not old.exists()
    assert leftovers(env_dir.parent) == []


def test_verify_env_lists_every_difference(
    tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType, actx: ArtifactContext, uv: UvRunner,
) -> None:  # fmt: skip
    env_dir = tmp_path / "project" / ".mlenv" / "envs" / TARGET
    assert verify_env(section(server, wheels, helpers), env_dir)[0].startswith("no environment")
    sec = section(server, wheels, helpers)
    env, _ = materialize(sec, env_dir, python=sys.executable, uv=uv, ctx=actx)
    (env_dir / "artifacts" / "remotemodel" / "model.bin").unlink()
    extra = wheels.get("tinyextra", "1.0")
    uv.run(["pip", "install", "--python", str(env.python), "--no-index", "--find-links",
            str(extra.path.parent), "tinyextra", "--quiet"], "install an extra package")  # fmt: skip
    diffs = verify_env(sec, env_dir)
    assert any("remotemodel/model.bin" in d and "missing" in d for d in diffs), diffs
    assert any("tinyextra" in d and "not in the lock" in d for d in diffs), diffs
    assert len(diffs) == 2, diffs
    other = LockTarget(name=TARGET, facts=sec.facts, pypi=sec.pypi[:1], artifacts=sec.artifacts)
    assert any("another lock" in d for d in verify_env(other, env_dir))
    assert read_env(tmp_path / "nowhere") is None
