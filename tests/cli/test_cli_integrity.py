"""Integrity at the command line: wrong bytes never become an environment."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from mlenv.lock import load_lock


def test_a_wrong_sha256_in_a_recipe_fails_the_install(
    make_project: Callable[..., Any], mlenv: Callable[..., Any], helpers: Any
) -> None:
    expected = helpers.sha256(helpers.MODEL_BIN)  # the recipe pins the genuine bytes…
    project = make_project(remote_path="/artifacts/tampered.bin", remote_sha256=expected)
    result = mlenv(project, "install")  # …the server sends others
    helpers.assert_user_error(
        result, "tampered.bin", "remotemodel", expected, helpers.sha256(helpers.TAMPERED_BIN)
    )
    assert result.stdout == ""
    assert project.lock.exists(), "resolving worked; installing failed"
    (target,) = load_lock(project.lock).targets
    assert not project.env_dir(target).exists()
    assert project.leftovers() == []
    assert not project.store_object(expected).exists()
    assert not project.store_object(helpers.sha256(helpers.TAMPERED_BIN)).exists()


def test_a_changed_store_object_is_caught(
    installed: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    expected = helpers.sha256(helpers.MODEL_BIN)
    obj = installed.store_object(expected)
    target = installed.env.name
    shutil.rmtree(installed.env)
    obj.chmod(0o644)  # objects are read-only
    data = bytearray(obj.read_bytes())
    data[10] ^= 0xFF
    obj.write_bytes(bytes(data))
    result = mlenv(installed, "install")
    helpers.assert_user_error(
        result, "model.bin", "remotemodel", expected, helpers.sha256(bytes(data))
    )
    assert not installed.env_dir(target).exists()
    assert installed.leftovers() == []
    # the hint's remedy works: delete the object, install again (downloads it anew)
    obj.unlink()
    again = mlenv(installed, "install")
    assert again.returncode == 0, str(again)
    assert (
        installed.env / "artifacts" / "remotemodel" / "model.bin"
    ).read_bytes() == helpers.MODEL_BIN


def test_a_changed_wheel_in_the_store_is_caught(
    installed: Any, mlenv: Callable[..., Any], helpers: Any, wheels: Any
) -> None:
    wheel = wheels.get("tinybeta", "1.0")
    obj = installed.store_object(wheel.sha256)
    shutil.rmtree(installed.env)
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes() + b"\0")
    result = mlenv(installed, "install", "--frozen")
    helpers.assert_user_error(result, wheel.filename, wheel.sha256)
    assert not installed.env.exists()
    assert installed.leftovers() == []
