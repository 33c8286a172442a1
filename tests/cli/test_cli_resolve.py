"""`mlenv resolve`: the lock is written, deterministic, free of host paths; `--check` gates CI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlenv.lock import load_lock


def test_resolve_writes_the_lock(resolved: Any, helpers: Any, wheels: Any) -> None:
    lock = load_lock(resolved.lock)
    assert len(lock.targets) == 1
    (section,) = lock.targets.values()
    assert set(section.packages) == {"tinybeta", "tinymodel", "remotemodel", "tinytable"}
    assert section.packages["tinymodel"].requires == ("tinybeta",)
    pins = {p.name: p for p in section.pypi}
    assert {n: p.version for n, p in pins.items()} == {"tinyalpha": "2.0", "tinybeta": "1.0"}
    for name, version in (("tinyalpha", "2.0"), ("tinybeta", "1.0")):
        wheel = wheels.get(name, version)
        assert pins[name].sha256 == wheel.sha256
        assert pins[name].url.endswith(f"/files/{wheel.filename}")
    arts = {a.package: a for a in section.artifacts}
    assert arts["remotemodel"].url == resolved.server.url("/artifacts/model.bin")
    assert arts["remotemodel"].sha256 == helpers.sha256(helpers.MODEL_BIN)
    assert arts["tinymodel"].url == "./recipes/models/model.onnx", "relative to the manifest"
    data_wheel = wheels.get("tinydata", "1.0")
    assert arts["tinytable"].member == helpers.TABLE_MEMBER
    assert arts["tinytable"].member_sha256 == helpers.sha256(helpers.TABLE_CSV)
    assert arts["tinytable"].sha256 == data_wheel.sha256
    assert "tinydata" not in pins, "a wheel-file wheel is not installed into the venv"


def test_a_second_resolve_writes_the_same_bytes(resolved: Any, mlenv: Callable[..., Any]) -> None:
    first = resolved.lock.read_bytes()
    again = mlenv(resolved, "resolve")
    assert again.returncode == 0, str(again)
    assert resolved.lock.read_bytes() == first
    resolved.lock.unlink()
    fresh = mlenv(resolved, "resolve")
    assert fresh.returncode == 0, str(fresh)
    assert resolved.lock.read_bytes() == first, "a fresh solve gives the same bytes"


def test_the_lock_holds_no_host_paths(resolved: Any, tmp_path: Any) -> None:
    text = resolved.lock.read_text()
    for path in {
        resolved.root,
        resolved.root.resolve(),
        resolved.home,
        resolved.home.resolve(),
        tmp_path,
    }:
        assert str(path) not in text
    home = str(Path.home())
    assert len(home) < 2 or f"{home}/" not in text
    assert text.startswith("#"), "a generated-file header"


def test_check_passes_on_a_fresh_lock_and_fails_after_a_manifest_edit(
    resolved: Any, mlenv: Callable[..., Any]
) -> None:
    ok = mlenv(resolved, "resolve", "--check")
    assert ok.returncode == 0, str(ok)
    before = resolved.lock.read_bytes()
    text = resolved.manifest.read_text()
    resolved.manifest.write_text(text.replace("name: tinyproj", "name: tinyproj2"))
    stale = mlenv(resolved, "resolve", "--check")
    assert stale.returncode == 1, str(stale)
    assert "error:" in stale.stderr and "mlenv.lock" in stale.stderr
    assert "mlenv.yaml changed" in stale.err
    assert "hint:" in stale.stderr and "Traceback" not in stale.stderr
    assert resolved.lock.read_bytes() == before, "--check writes nothing"


def test_check_ignores_comments_and_formatting(resolved: Any, mlenv: Callable[..., Any]) -> None:
    """The lock records the normalized manifest: a comment is not a change."""
    resolved.manifest.write_text("# a comment\n" + resolved.manifest.read_text() + "\n\n")
    result = mlenv(resolved, "resolve", "--check")
    assert result.returncode == 0, str(result)


def test_check_fails_after_a_recipe_edit(resolved: Any, mlenv: Callable[..., Any]) -> None:
    recipe = resolved.recipes / "frameworks" / "tinybeta.yaml"
    recipe.write_text(recipe.read_text().replace("a tiny framework", "a tinier framework"))
    result = mlenv(resolved, "resolve", "--check")
    assert result.returncode == 1, str(result)
    assert "recipe tinybeta changed" in result.err


def test_check_fails_without_a_lock(project: Any, mlenv: Callable[..., Any]) -> None:
    result = mlenv(project, "resolve", "--check")
    assert result.returncode == 1, str(result)
    assert "error:" in result.stderr and "no lock file" in result.err
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    assert not project.lock.exists()


def test_check_json_prints_one_document(resolved: Any, mlenv: Callable[..., Any]) -> None:
    """`--json`: one JSON document on stdout, also when the check fails (CONTRACTS §6)."""
    ok = mlenv(resolved, "resolve", "--check", "--json")
    assert ok.returncode == 0, str(ok)
    assert json.loads(ok.stdout)["ok"] is True
    resolved.lock.unlink()
    stale = mlenv(resolved, "resolve", "--json", "--check")
    assert stale.returncode == 1, str(stale)
    doc = json.loads(stale.stdout)  # exactly one document
    assert doc["ok"] is False


def test_resolving_another_target_keeps_the_host_section(
    resolved: Any, mlenv: Callable[..., Any]
) -> None:
    before = load_lock(resolved.lock)
    (host,) = before.targets
    result = mlenv(resolved, "resolve", "--target", "linux-aarch64-cpu")
    assert result.returncode == 0, str(result)
    after = load_lock(resolved.lock)
    assert set(after.targets) == {host, "linux-aarch64-cpu"}
    assert after.targets[host].to_dict() == before.targets[host].to_dict()
    assert after.targets["linux-aarch64-cpu"].facts["arch"] == "aarch64"
    assert mlenv(resolved, "resolve", "--check").returncode == 0
    assert str(resolved.root) not in resolved.lock.read_text()
