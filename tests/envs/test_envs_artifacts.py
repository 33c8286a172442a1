"""The artifact layer: files from URLs, from beside the recipes, from inside pinned wheels, and
folders the user supplies."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlenv.envs.artifacts import ArtifactContext, place_artifact, source_of, verify_placed
from mlenv.envs.download import FetchOptions
from mlenv.envs.store import Store
from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import ArtifactPin
from mlenv.reporter import NullReporter


@pytest.fixture(autouse=True)
def _env(offline_env: dict[str, str]) -> None:
    """No proxy between urllib and 127.0.0.1."""


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def make_ctx(store: Store, project_dir: Path, tmp_path: Path, **kw: Any) -> ArtifactContext:
    return ArtifactContext(
        store=store, project_dir=project_dir, builtin_dir=tmp_path / "builtin",
        options=kw.pop("options", FetchOptions(retries=1, backoff=0.01)), reporter=NullReporter(),
        environ=kw.pop("environ", {}),
    )  # fmt: skip


def wheel_pin(server: Any, wheels: Any, helpers: ModuleType, **kw: Any) -> ArtifactPin:
    data = wheels.get("tinydata", "1.0")
    fields = {
        "name": "table.csv", "package": "tinytable", "url": server.url(f"/files/{data.filename}"),
        "sha256": data.sha256, "member": helpers.TABLE_MEMBER,
        "member_sha256": helpers.sha256(helpers.TABLE_CSV), **kw,
    }  # fmt: skip
    return ArtifactPin(**fields)


def test_source_of_names(store: Store, project_dir: Path, tmp_path: Path) -> None:
    ctx = make_ctx(store, project_dir, tmp_path)
    assert source_of(ArtifactPin(name="a", package="p", url="https://x/a"), ctx) == "https://x/a"
    assert source_of(ArtifactPin(name="a", package="p", url="builtin:models/a.onnx"), ctx) == str(
        tmp_path / "builtin" / "models" / "a.onnx"
    )
    assert source_of(ArtifactPin(name="a", package="p", url="./recipes/models/a.onnx"), ctx) == str(
        project_dir / "./recipes/models/a.onnx"
    )


def test_wheel_file_takes_one_member_out_of_the_wheel(
    store: Store, project_dir: Path, tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType
) -> None:
    dest = tmp_path / "build" / "artifacts"
    recorded = place_artifact(
        wheel_pin(server, wheels, helpers), dest, make_ctx(store, project_dir, tmp_path)
    )
    member_sha = helpers.sha256(helpers.TABLE_CSV)
    assert recorded == {"path": "tinytable/table.csv", "sha256": member_sha}
    placed = dest / "tinytable" / "table.csv"
    assert placed.read_bytes() == helpers.TABLE_CSV
    assert os.stat(placed).st_ino == os.stat(store.path(member_sha)).st_ino
    assert store.has(wheels.get("tinydata", "1.0").sha256), "the wheel itself is kept in the store"
    assert verify_placed(dest, {"tinytable/table.csv": recorded}) == []


def test_wheel_file_member_with_other_bytes_is_an_integrity_error(
    store: Store, project_dir: Path, tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType
) -> None:
    wrong = helpers.sha256(b"not the table")
    pin = wheel_pin(server, wheels, helpers, member_sha256=wrong)
    with pytest.raises(IntegrityError) as info:
        place_artifact(pin, tmp_path / "build", make_ctx(store, project_dir, tmp_path))
    assert "table.csv" in info.value.message
    assert wrong in (info.value.why or "") and helpers.sha256(helpers.TABLE_CSV) in (
        info.value.why or ""
    )
    assert not store.has(wrong)


def test_wheel_file_member_missing_from_the_wheel(
    store: Store, project_dir: Path, tmp_path: Path, server: Any, wheels: Any, helpers: ModuleType
) -> None:
    pin = wheel_pin(server, wheels, helpers, member="tinydata/data/nope.csv")
    with pytest.raises(InstallError) as info:
        place_artifact(pin, tmp_path / "build", make_ctx(store, project_dir, tmp_path))
    assert "nope.csv" in info.value.message
    assert info.value.hint


def test_local_data_needs_its_variable(store: Store, project_dir: Path, tmp_path: Path) -> None:
    pin = ArtifactPin(name="IMAGENET_DIR", package="imagenet", local_env="IMAGENET_DIR")
    with pytest.raises(InstallError) as info:
        place_artifact(pin, tmp_path / "build", make_ctx(store, project_dir, tmp_path))
    assert "IMAGENET_DIR" in info.value.message and info.value.hint
    data = tmp_path / "imagenet"
    data.mkdir()
    ctx = make_ctx(store, project_dir, tmp_path, environ={"IMAGENET_DIR": str(data)})
    recorded = place_artifact(pin, tmp_path / "build", ctx)
    assert (tmp_path / "build" / "imagenet" / "IMAGENET_DIR").resolve() == data.resolve()
    assert recorded["local"] == "IMAGENET_DIR"


def test_verify_placed_reports_missing_and_changed_files(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    (root / "p").mkdir(parents=True)
    (root / "p" / "changed.bin").write_bytes(b"new")
    recorded = {
        "p/missing.bin": {"path": "p/missing.bin", "sha256": "0" * 64},
        "p/changed.bin": {"path": "p/changed.bin", "sha256": "1" * 64},
    }
    diffs = verify_placed(root, recorded)
    assert len(diffs) == 2
    assert any("missing" in d and "missing.bin" in d for d in diffs)
    assert any("changed" in d and "changed.bin" in d for d in diffs)
