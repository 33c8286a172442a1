"""`mlenv verify`: 0 when the environment matches the lock, 1 listing every difference."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from uv import find_uv_bin


def test_verify_passes_on_a_fresh_environment(installed: Any, mlenv: Callable[..., Any]) -> None:
    result = mlenv(installed, "verify")
    assert result.returncode == 0, str(result)
    assert "matches the lock" in result.err
    as_json = mlenv(installed, "verify", "--json")
    assert as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is True and doc["command"] == "verify"
    assert doc["data"]["differences"] == [] and doc["data"]["target"]


def test_verify_lists_a_deleted_artifact(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    (installed.env / "artifacts" / "tinymodel" / "model.onnx").unlink()
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "tinymodel/model.onnx", "missing", "1 place")


def test_verify_lists_a_changed_artifact(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    placed = installed.env / "artifacts" / "tinytable" / "table.csv"
    placed.unlink()  # a new file, not a write through the link into the store
    placed.write_bytes(b"x,y\n")
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "tinytable/table.csv", "changed")


def test_verify_lists_an_extra_package(
    installed: Any, mlenv: Callable[..., Any], helpers: Any, wheels: Any
) -> None:
    extra = wheels.get("tinyextra", "1.0")
    subprocess.run(
        [str(find_uv_bin()), "pip", "install", "--python", str(installed.env / "venv" / "bin" / "python"),
         "--no-index", "--find-links", str(extra.path.parent), "--no-cache", "--quiet", "tinyextra"],
        check=True, env=installed.environ(),
    )  # fmt: skip
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "tinyextra", "not in the lock")


def test_verify_lists_every_difference(
    installed: Any, mlenv: Callable[..., Any], helpers: Any, wheels: Any
) -> None:
    (installed.env / "artifacts" / "remotemodel" / "model.bin").unlink()
    python = installed.env / "venv" / "bin" / "python"
    subprocess.run(
        [str(find_uv_bin()), "pip", "uninstall", "--python", str(python), "--quiet", "tinyalpha"],
        check=True, env=installed.environ(),
    )  # fmt: skip
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "2 place", "remotemodel/model.bin", "tinyalpha 2.0: missing")


def test_verify_json_prints_one_document(installed: Any, mlenv: Callable[..., Any]) -> None:
    """`--json`: one JSON document on stdout, also when verification fails (CONTRACTS §6)."""
    (installed.env / "artifacts" / "remotemodel" / "model.bin").unlink()
    result = mlenv(installed, "verify", "--json")
    assert result.returncode == 1, str(result)
    doc = json.loads(result.stdout)  # exactly one document
    assert doc["ok"] is False and "1 place" in doc["error"]["message"]
    (difference,) = doc["data"]["differences"]
    assert "remotemodel/model.bin" in difference


def test_verify_without_an_environment(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    result = mlenv(resolved, "verify")
    helpers.assert_user_error(result, "no environment", "mlenv install")


def test_verify_after_the_lock_changed(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    beta = installed.recipes / "frameworks" / "tinybeta.yaml"
    beta.write_text(beta.read_text() + "provides: [tiny-engine]\n")
    assert mlenv(installed, "resolve").returncode == 0
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "another lock")
