"""Names that become paths outside the lock: `MLENV_HOST_*` overrides (they make the host's
target name), manifest `targets:`, target files' `name`, `--target`, and the one join
(`names.within`, `paths.project_env_dir`) that refuses to leave its root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.errors import MlenvError
from mlenv.host import detect_host
from mlenv.names import UnsafePath, within
from mlenv.paths import project_env_dir

BASE_HOST = {"MLENV_HOST_CUDA": "none"}

HOSTILE_HOST = [
    ("MLENV_HOST_OS", "../../etc"),
    ("MLENV_HOST_OS", "/etc"),
    ("MLENV_HOST_ARCH", "x86_64/../../../x"),
    ("MLENV_HOST_ARCH", "X86 64"),
    ("MLENV_HOST_MICROARCH", "../v3"),
    ("MLENV_HOST_GLIBC", "2.28\nx"),
    ("MLENV_HOST_GLIBC", "two"),
    ("MLENV_HOST_GLIBC", "2"),
    ("MLENV_HOST_CUDA", "../12"),
    ("MLENV_HOST_CUDA", "12.4; rm -rf /"),
    ("MLENV_HOST_PYTHON", "3.11/../.."),
]


@pytest.mark.parametrize("var,value", HOSTILE_HOST)
def test_detect_host_refuses_hostile_overrides(var: str, value: str) -> None:
    with pytest.raises(MlenvError) as info:
        detect_host({**BASE_HOST, var: value})
    assert var in info.value.message and info.value.where == var
    assert info.value.hint and var in info.value.hint


@pytest.mark.parametrize(
    "env,name",
    [
        ({"MLENV_HOST_OS": "linux", "MLENV_HOST_ARCH": "x86_64"}, "linux-x86_64-cpu"),
        (
            {"MLENV_HOST_OS": "linux", "MLENV_HOST_ARCH": "aarch64", "MLENV_HOST_CUDA": "12.4"},
            "linux-aarch64-cuda12",
        ),
        (
            {"MLENV_HOST_OS": "darwin", "MLENV_HOST_ARCH": "arm64", "MLENV_HOST_GLIBC": ""},
            "darwin-arm64-cpu",
        ),
    ],
)
def test_detect_host_accepts_well_formed_overrides(env: dict[str, str], name: str) -> None:
    host = detect_host({**BASE_HOST, "MLENV_HOST_PYTHON": "3.11", **env})
    assert host.name == name


@pytest.mark.parametrize("var,value", [HOSTILE_HOST[0], HOSTILE_HOST[3], HOSTILE_HOST[7]])
def test_the_cli_names_the_variable(
    project: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, var: str, value: str
) -> None:
    env = {**project.environ(), var: value}
    for command in (("resolve",), ("install",)):
        result = mlenv(project, *command, env=env)
        helpers.assert_user_error(result, var)
        sentinel.check()
    assert not project.lock.exists()
    assert not (project.root / ".mlenv" / "envs").exists()


@pytest.mark.parametrize("target", ["../x", "/etc", "..", "a/b"])
def test_manifest_targets_must_be_names(
    project: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, target: str
) -> None:
    text = project.manifest.read_text(encoding="utf-8")
    project.manifest.write_text(
        text.replace("targets: [host]", f"targets: [host, '{target}']"), encoding="utf-8"
    )
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, "targets[1]", "invalid target name")
    sentinel.check()
    assert not project.lock.exists()


def test_a_target_file_name_must_be_a_name(
    project: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any
) -> None:
    project.write(
        "recipes/targets/evil.yaml",
        """
        name: ../../evil
        os: linux
        arch: x86_64
        python: "3.11"
        """,
    )
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, "evil.yaml", "name", "invalid target name")
    sentinel.check()


@pytest.mark.parametrize("command", [("verify",), ("install", "--frozen"), ("export",)])
def test_a_hostile_target_option_is_refused(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, command: tuple[str, ...]
) -> None:
    extra = ("--format", "requirements") if command == ("export",) else ()
    result = mlenv(resolved, *command, *extra, "--target", "../../x")
    helpers.assert_user_error(result, "--target", "../../x")
    assert not resolved.envs.exists()


# -- the join that never leaves its root ----------------------------------------------------


def test_within_a_plain_nested_path(tmp_path: Path) -> None:
    assert within(tmp_path, "a", "b/c.txt") == tmp_path / "a" / "b" / "c.txt"
    assert within(tmp_path, "x..y") == tmp_path / "x..y"


@pytest.mark.parametrize(
    "parts", [("/etc/passwd",), ("..",), ("a", "../../b"), ("a/../../b",), ("",), ("a\x00",)]
)
def test_within_refuses_leaving(tmp_path: Path, parts: tuple[str, ...]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafePath):
        within(root, *parts)


def test_within_refuses_a_link_pointing_outside(tmp_path: Path, sentinel: Any) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").symlink_to(sentinel.path)
    (root / "in").symlink_to(root)
    with pytest.raises(UnsafePath) as info:
        within(root, "out", "keep", "precious.txt")
    assert "outside" in info.value.message
    assert within(root, "in", "x") == root / "in" / "x"  # a link that stays inside is fine
    sentinel.check()


@pytest.mark.parametrize("name", ["../x", "/abs", ".", "..", "a/b", "", ".hidden", "a\nb"])
def test_project_env_dir_refuses_unsafe_target_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        project_env_dir(tmp_path, name)


def test_project_env_dir(tmp_path: Path, sentinel: Any) -> None:
    envs = tmp_path / ".mlenv" / "envs"
    assert project_env_dir(tmp_path, "linux-x86_64-cpu") == envs / "linux-x86_64-cpu"
    envs.mkdir(parents=True)
    os.symlink(sentinel.path, envs / "planted")
    with pytest.raises(UnsafePath):
        project_env_dir(tmp_path, "planted")
    sentinel.check()


def test_a_benchmark_model_must_be_a_name(
    project: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    """`benchmark.model` names the results folder (`results/<target>/<model>/…`)."""
    text = project.manifest.read_text(encoding="utf-8")
    bench = "benchmark: {model: ../../../x, dataset: tinytable, backend: tinybeta}\n"
    project.manifest.write_text(text + bench, encoding="utf-8")
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, "benchmark.model")
    assert not project.lock.exists()
