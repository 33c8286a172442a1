"""A hostile lock (from a pull request, a bundle) is refused at load, before anything is built:
`mlenv install --frozen`, `mlenv verify` and `mlenv export` each exit 1 with a message naming
the dotted field, and nothing outside the project changes (the sentinel folder's listing)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

COMMANDS = (
    ("install", "--frozen"),
    ("verify",),
    ("export", "--format", "requirements"),
)


@dataclass(frozen=True)
class Ctx:
    """What a mutation may use: the host section's name and the sentinel folder."""

    section: str
    sentinel: Path
    envs: Path

    def rel(self, *parts: str) -> str:
        """A path from the project's envs folder to inside the sentinel (traversal)."""
        return os.path.relpath(self.sentinel.joinpath(*parts), self.envs)


def _index(doc: dict[str, Any], ctx: Ctx, package: str) -> int:
    arts = doc["targets"][ctx.section]["artifacts"]
    return next(i for i, a in enumerate(arts) if a["package"] == package)


def rename_section(new: Callable[[Ctx], str]) -> Callable[[dict[str, Any], Ctx], str]:
    def mutate(doc: dict[str, Any], ctx: Ctx) -> str:
        targets = doc["targets"]
        targets[new(ctx)] = targets.pop(ctx.section)
        return f"targets.{new(ctx)}"

    return mutate


def set_artifact(package: str, key: str, value: Callable[[Ctx], Any]) -> Callable[..., str]:
    def mutate(doc: dict[str, Any], ctx: Ctx) -> str:
        index = _index(doc, ctx, package)
        doc["targets"][ctx.section]["artifacts"][index][key] = value(ctx)
        return f"targets.{ctx.section}.artifacts[{index}].{key}"

    return mutate


def set_pypi(key: str, value: Callable[[Ctx], Any]) -> Callable[..., str]:
    def mutate(doc: dict[str, Any], ctx: Ctx) -> str:
        doc["targets"][ctx.section]["pypi"][0][key] = value(ctx)
        return f"targets.{ctx.section}.pypi[0].{key}"

    return mutate


# (id, mutation of the parsed lock -> the dotted field the error must name)
CASES: list[tuple[str, Callable[[dict[str, Any], Ctx], str]]] = [
    ("section-traversal", rename_section(lambda c: c.rel("keep", "x"))),
    ("section-absolute", rename_section(lambda c: str(c.sentinel / "keep"))),
    ("section-dotdot", rename_section(lambda c: "..")),
    ("name-absolute", set_artifact("remotemodel", "name", lambda c: str(c.sentinel / "x.bin"))),
    ("name-dotdot", set_artifact("remotemodel", "name", lambda c: "../x")),
    ("package-traversal", set_artifact("remotemodel", "package", lambda c: c.rel("keep"))),
    (
        "sha256-path",
        set_artifact("remotemodel", "sha256", lambda c: "../../sentinel/keep/precious.txt"),
    ),
    ("md5-path", set_artifact("remotemodel", "md5", lambda c: "/etc/passwd")),
    ("pypi-sha256-path", set_pypi("sha256", lambda c: c.rel("keep", "precious.txt"))),
    ("path-traversal", set_artifact("remotemodel", "path", lambda c: "../../../x")),
    ("member-traversal", set_artifact("tinytable", "member", lambda c: c.rel("keep", "p.txt"))),
    ("member-absolute", set_artifact("tinytable", "member", lambda c: "/etc/passwd")),
    ("member-sha256-path", set_artifact("tinytable", "member-sha256", lambda c: "../x")),
    ("size-negative", set_artifact("remotemodel", "size", lambda c: -5)),
    ("size-huge", set_artifact("remotemodel", "size", lambda c: 10**32)),
    ("size-float", set_artifact("remotemodel", "size", lambda c: 1.5)),
    ("strip-negative", set_artifact("remotemodel", "strip", lambda c: -1)),
    ("extract-rar", set_artifact("remotemodel", "extract", lambda c: "rar")),
    ("local-env-lower", set_artifact("remotemodel", "local-env", lambda c: "x;rm")),
    ("url-newline", set_artifact("remotemodel", "url", lambda c: "http://x/a\n--index-url y")),
    ("url-dotdot-inside", set_artifact("remotemodel", "url", lambda c: "./a/../../x.bin")),
    ("url-local-tab", set_artifact("remotemodel", "url", lambda c: "../my\tmodel.bin")),
    ("pypi-name-newline", set_pypi("name", lambda c: "tinyalpha\n--index-url http://evil")),
    ("pypi-version-space", set_pypi("version", lambda c: "2.0 --pre")),
]


def _mutated(project: Any, sentinel: Any, mutate: Callable[..., str]) -> str:
    text = project.lock.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    (section,) = doc["targets"]
    ctx = Ctx(section=section, sentinel=sentinel.path, envs=project.envs)
    field = mutate(doc, ctx)
    project.lock.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return field


@pytest.mark.parametrize("mutate", [m for _, m in CASES], ids=[i for i, _ in CASES])
def test_a_hostile_lock_is_refused_by_every_command(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, mutate: Any
) -> None:
    field = _mutated(resolved, sentinel, mutate)
    for command in COMMANDS:
        result = mlenv(resolved, *command)
        helpers.assert_user_error(result, field)
        assert result.stdout == ""
        sentinel.check()
    assert not resolved.envs.exists() or not any(resolved.envs.iterdir())


def test_text_size_1e32_is_refused(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any
) -> None:
    field = _mutated(resolved, sentinel, set_artifact("remotemodel", "size", lambda c: 7777))
    text = resolved.lock.read_text(encoding="utf-8").replace("size: 7777", "size: 1e32")
    resolved.lock.write_text(text, encoding="utf-8")
    result = mlenv(resolved, "install", "--frozen")
    helpers.assert_user_error(result, field, "expected an integer")
    sentinel.check()


@pytest.mark.parametrize("key", ["name", "sha256"])
def test_duplicate_keys_are_refused(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, sentinel: Any, key: str
) -> None:
    """YAML keeps the last of two equal keys: a reviewer reads the first one."""
    text = resolved.lock.read_text(encoding="utf-8")
    (section,) = yaml.safe_load(text)["targets"]
    line = next(ln for ln in text.splitlines() if "package: remotemodel" in ln)
    hostile = "/etc/passwd" if key == "sha256" else "../../../x"
    doubled = line.replace("{", f"{{{key}: '{hostile}', ", 1)
    resolved.lock.write_text(text.replace(line, doubled), encoding="utf-8")
    lineno = text.splitlines().index(line) + 1
    for command in COMMANDS:
        result = mlenv(resolved, *command)
        helpers.assert_user_error(
            result,
            f"duplicate key '{key}'",
            f"mlenv.lock:{lineno}:",
            f"targets.{section}.artifacts[0].{key}",
        )
        sentinel.check()


def test_a_duplicate_section_is_refused(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any
) -> None:
    text = resolved.lock.read_text(encoding="utf-8")
    (section,) = yaml.safe_load(text)["targets"]
    text += f"  {section}:\n    facts: {{}}\n"
    resolved.lock.write_text(text, encoding="utf-8")
    result = mlenv(resolved, "install", "--frozen")
    helpers.assert_user_error(result, f"duplicate key '{section}'", f"targets.{section}")


@pytest.mark.parametrize("version", ["2", "'2.0'", "0"])
def test_an_unknown_major_version_is_refused(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, version: str
) -> None:
    text = resolved.lock.read_text(encoding="utf-8").replace(
        "version: 1\n", f"version: {version}\n"
    )
    resolved.lock.write_text(text, encoding="utf-8")
    for command in COMMANDS:
        result = mlenv(resolved, *command)
        helpers.assert_user_error(result, "lock version", "this mlenv")
    assert not resolved.envs.exists()


@pytest.mark.parametrize("version", ["x", "[1]", "true"])
def test_a_garbage_version_is_a_format_problem(
    resolved: Any, mlenv: Callable[..., Any], helpers: Any, version: str
) -> None:
    text = resolved.lock.read_text(encoding="utf-8").replace(
        "version: 1\n", f"version: {version}\n"
    )
    resolved.lock.write_text(text, encoding="utf-8")
    result = mlenv(resolved, "install", "--frozen")
    helpers.assert_user_error(result, "mlenv.lock:2: version", "invalid lock version")


@pytest.mark.parametrize("version", ["1.9", "'1.9'"])
def test_a_newer_minor_version_warns_and_installs(
    resolved: Any, mlenv: Callable[..., Any], version: str
) -> None:
    text = resolved.lock.read_text(encoding="utf-8").replace(
        "version: 1\n", f"version: {version}\n"
    )
    resolved.lock.write_text(text, encoding="utf-8")
    result = mlenv(resolved, "install", "--frozen")
    assert result.returncode == 0, str(result)
    assert "warning:" in result.stderr and "1.9" in result.err and "newer" in result.err
    env = Path(result.stdout.strip())
    assert (env / "artifacts" / "remotemodel" / "model.bin").exists()
    verified = mlenv(resolved, "verify")
    assert verified.returncode == 0, str(verified)
    assert "warning:" in verified.stderr


def test_export_refuses_control_characters_in_a_pin() -> None:
    """Defence in depth: a section built in memory (never loaded) is checked by the writers."""
    from mlenv.errors import MlenvError
    from mlenv.exporters import FORMATS, export
    from mlenv.lock import LockTarget, PypiPin

    pin = PypiPin(
        name="a\n--index-url http://evil", version="1", url="https://x/a.whl", sha256="0" * 64
    )
    facts = {"os": "linux", "arch": "x86_64", "python": "3.11\nRUN rm -rf /"}
    section = LockTarget(name="t", facts=facts, pypi=(pin,))
    for fmt in FORMATS:
        with pytest.raises(MlenvError) as info:
            export(fmt, section)
        assert "targets.t.pypi[0].name" in str(info.value.where)
        assert "targets.t.facts.python" in str(info.value.where)


@pytest.mark.parametrize(
    "rel,needle",
    [
        ("mlenv.yaml", "mlenv.yaml:2:"),
        ("recipes/models/tinymodel.yaml", "tinymodel.yaml:2:"),
        ("recipes/targets/dup.yaml", "dup.yaml:2:"),
    ],
)
def test_duplicate_keys_in_every_yaml_file(
    project: Any, mlenv: Callable[..., Any], helpers: Any, rel: str, needle: str
) -> None:
    """One loader reads every YAML file: a manifest, a recipe, a target file."""
    path = project.root / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name: dup\nos: linux\narch: x86_64\npython: '3.11'\n", encoding="utf-8")
    first, rest = path.read_text(encoding="utf-8").split("\n", 1)
    path.write_text(f"{first}\n{first}\n{rest}", encoding="utf-8")
    key = first.split(":", 1)[0]
    result = mlenv(project, "resolve")
    helpers.assert_user_error(result, needle, f"duplicate key '{key}'")
    assert not project.lock.exists()
