"""Nothing from a lock or a bundle is executed; `detect:` runs only for recipes a solve can visit,
and only programs that run no other code.

The hostile lock carries a `system:` pin whose `executables`/`args` are `sh -c "touch …"` (what
older locks recorded for re-detection): `install --frozen`, `verify` and `reproduce` re-detect
with the recipe of the user's own index instead, so the sentinel folder stays as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlenv.lock import load_lock

FAKETOOL = """
name: faketool
kind: tool
summary: a system tool found on PATH
install:
  - detect: {executables: [faketool], args: [--version], regex: "faketool (\\\\d+\\\\.\\\\d+\\\\.\\\\d+)"}
"""


def script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def environ(project: Any, bin_dir: Path) -> dict[str, str]:
    env = project.environ()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def hostile_pin(sentinel: Any, package: str = "faketool") -> dict[str, Any]:
    return {
        "name": package,
        "package": package,
        "version": "1.2.3",
        "executables": ["sh"],
        "args": ["-c", f"touch {sentinel.path}/pwned"],
        "regex": "(.*)",
    }


def poison_lock(project: Any, pin: dict[str, Any]) -> None:
    """Put `pin` into every section's `system:` (replacing a pin of the same name)."""
    data = yaml.safe_load(project.lock.read_text(encoding="utf-8"))
    for section in data["targets"].values():
        pins = [p for p in section.get("system") or [] if p.get("name") != pin["name"]]
        section["system"] = [*pins, pin]
    project.lock.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert any(p.executables == ("sh",) for s in load_lock(project.lock).targets.values()
               for p in s.system)  # fmt: skip


def test_install_frozen_never_runs_the_locks_command(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any
) -> None:
    poison_lock(resolved, hostile_pin(sentinel))
    result = mlenv(resolved, "install", "--frozen")
    helpers.assert_user_error(
        result, "cannot re-detect system tool faketool", "recipe faketool is not in your recipe"
    )
    sentinel.check()
    anyway = mlenv(resolved, "install", "--frozen", "--allow-drift")
    assert anyway.returncode == 0, str(anyway)
    assert "cannot re-detect system tool faketool" in anyway.err
    sentinel.check()


def test_verify_never_runs_the_locks_command(
    installed: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any
) -> None:
    poison_lock(installed, hostile_pin(sentinel))
    result = mlenv(installed, "verify")
    helpers.assert_user_error(result, "cannot re-detect system tool faketool")
    sentinel.check()


def test_reproduce_never_runs_the_bundles_command(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, tmp_path: Path
) -> None:
    """The bundle's lock carries the command and its own recipe folder a `faketool` recipe:
    reproduce re-detects with the built-in catalog only, which has no such recipe."""
    resolved.write("recipes/tools/faketool.yaml", FAKETOOL)
    poison_lock(resolved, hostile_pin(sentinel))
    assert mlenv(resolved, "install", "--frozen", "--allow-drift").returncode == 0
    packed = mlenv(resolved, "pack", "-o", str(tmp_path / "bundle.tar"))
    assert packed.returncode == 0, str(packed)
    bin_dir = tmp_path / "bin"
    script(bin_dir, "faketool", f"touch {sentinel.path}/pwned-by-path; echo faketool 1.2.3")
    out = tmp_path / "reproduction"
    result = mlenv(
        resolved,
        "reproduce",
        str(tmp_path / "bundle.tar"),
        "--out",
        str(out),
        "--json",
        env=environ(resolved, bin_dir),
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, str(result)
    assert "cannot re-detect system tool faketool" in result.stdout + result.err, str(result)
    sentinel.check()


def test_redetection_uses_the_users_own_recipe(
    make_project: Callable[..., Any],
    mlenv: Callable[..., Any],
    helpers: Any,
    sentinel: Any,
    tmp_path: Path,
) -> None:
    project = make_project(requires=("tinybeta", "faketool"))
    project.write("recipes/tools/faketool.yaml", FAKETOOL)
    bin_dir = tmp_path / "bin"
    script(bin_dir, "faketool", 'echo "faketool 1.2.3"')
    env = environ(project, bin_dir)
    assert mlenv(project, "resolve", env=env).returncode == 0
    (target,) = load_lock(project.lock).targets
    pins = load_lock(project.lock).targets[target].system
    assert [(p.name, p.version, p.executables, p.regex) for p in pins] == [
        ("faketool", "1.2.3", (), None)
    ], "a new lock records the version, not a command line"
    poison_lock(project, hostile_pin(sentinel))
    result = mlenv(project, "install", "--frozen", env=env)
    assert result.returncode == 0, str(result)  # the user's recipe found 1.2.3: no drift
    assert mlenv(project, "verify", env=env).returncode == 0
    sentinel.check()
    script(bin_dir, "faketool", 'echo "faketool 1.2.4"')
    drift = mlenv(project, "install", "--frozen", "--force", env=env)
    helpers.assert_user_error(drift, "system faketool: the lock pins 1.2.3, this machine has 1.2.4")
    sentinel.check()


def test_resolve_runs_no_unrequired_detect_recipe(
    project: Any, mlenv: Callable[..., Any], tmp_path: Path
) -> None:
    marker = tmp_path / "spied"
    bin_dir = tmp_path / "bin"
    script(bin_dir, "spytool", f'touch {marker}; echo "spytool 1.0.0"')
    project.write(
        "recipes/tools/spytool.yaml",
        """
        name: spytool
        kind: tool
        summary: a detect recipe nothing requires
        install:
          - detect: {executables: [spytool], args: [--version], regex: "spytool (\\\\S+)"}
        """,
    )
    env = environ(project, bin_dir)
    result = mlenv(project, "resolve", env=env)
    assert result.returncode == 0, str(result)
    assert not marker.exists(), "resolve ran the detect: program of a recipe nothing requires"
    lint = mlenv(project, "recipes", "lint", str(project.recipes), env=env)
    assert lint.returncode == 0, str(lint)
    assert "detect: runs `spytool --version`" in lint.err, str(lint)
    assert "spytool.yaml" in lint.err
    assert not marker.exists()
    # required (here through a virtual name), it is detected: the test above would notice
    project.write(
        "recipes/tools/spyuser.yaml",
        """
        name: spyuser
        kind: tool
        summary: needs a spy through a virtual name
        versions: ["1.0"]
        requires: [spy-virtual]
        """,
    )
    text = project.manifest.read_text(encoding="utf-8")
    project.manifest.write_text(text + "  - spyuser\n", encoding="utf-8")
    spec = (project.recipes / "tools" / "spytool.yaml").read_text(encoding="utf-8")
    (project.recipes / "tools" / "spytool.yaml").write_text(
        spec.replace("install:", "provides: [spy-virtual]\ninstall:"), encoding="utf-8"
    )
    result = mlenv(project, "resolve", env=env)
    assert result.returncode == 0, str(result)
    assert marker.exists()


BAD_DETECT = [
    ("[sh]", "[-c, 'touch x']", "executables[0]"),
    ("[bash]", "[--version]", "executables[0]"),
    ("[gcc, /bin/sh]", "[--version]", "executables[1]"),
    ("[../bin/tool]", "[--version]", "executables[0]"),
    ("[env]", "[--version]", "executables[0]"),
    ("[busybox]", "[--version]", "executables[0]"),
    ("[python3]", "[-c, pass]", "executables[0]"),
    ("[perl5.36]", "[-e1]", "executables[0]"),
    ("[xargs]", "[]", "executables[0]"),
    ("[gcc]", "['--version;touch']", "args[0]"),
    ("[gcc]", "['$(touch x)']", "args[0]"),
    ("[gcc]", "['a b']", "args[0]"),
]


@pytest.mark.parametrize(("executables", "args", "field"), BAD_DETECT)
def test_a_detect_recipe_that_could_run_code_is_refused(
    project: Any,
    mlenv: Callable[..., Any],
    helpers: Any,
    sentinel: Any,
    executables: str,
    args: str,
    field: str,
) -> None:
    project.write(
        "recipes/tools/evil.yaml",
        f"""
        name: evil
        kind: tool
        summary: a detect recipe that would run a shell
        install:
          - detect: {{executables: {executables}, args: {args}, regex: "(.*)"}}
        """,
    )
    where = f"install[0].detect.{field}"
    lint = mlenv(project, "recipes", "lint", str(project.recipes))
    helpers.assert_user_error(lint, "evil.yaml", where)
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, "evil.yaml", where)
    assert not project.lock.exists()
    sentinel.check()


def test_the_builtin_catalog_passes_lint(mlenv: Callable[..., Any], project: Any) -> None:
    result = mlenv(project, "recipes", "lint")
    assert result.returncode == 0, str(result)
