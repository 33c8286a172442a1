"""Errors a user can cause: exit 1, `error:` naming the file/line, field or requirement chain,
a `hint:`, and never a traceback. Bad command lines exit 2."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def run(cli: Callable[..., Any], project: Any) -> Callable[..., Any]:
    """run(*args, folder=project.root): in-process `mlenv ARGS…`."""

    def _run(*args: str, folder: Path | None = None) -> Any:
        return cli(folder or project.root, *args, home=project.home, server=project.server)

    return _run


def test_malformed_manifest_yaml_names_line_and_column(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    project.manifest.write_text(
        "name: tinyproj\nrecipes: [./recipes]\nrequires:\n  - tinybeta\n  bad: [x\n"
    )
    result = run("resolve")
    helpers.assert_user_error(result, "malformed YAML")
    assert re.search(r"mlenv\.yaml:5:\d+", result.err), result.stderr


def test_manifest_field_problems_name_the_line(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    project.manifest.write_text(
        "name: tinyproj\nrecipes: [./recipes]\nrequires:\n  - tinybeta\n  - tinymodel >=>1\nbenchmarks: {}\n"
    )
    result = run("resolve")
    helpers.assert_user_error(result, "mlenv.yaml:5: requires[1]", "mlenv.yaml:6: benchmarks")
    assert "^" in result.stderr, "a caret under the bad span of the requirement"


def test_unknown_keys_in_recipes_name_file_dotted_field_and_line(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    project.write(
        "recipes/frameworks/tinybeta.yaml",
        """
        name: tinybeta
        kind: framework
        summry: a typo
        versions: ["1.0"]
        install:
          - pypi: ["tinybeta=={version}"]
        """,
    )
    project.write(
        "recipes/models/remotemodel.yaml",
        f"""
        name: remotemodel
        kind: model
        versions: ["1.0"]
        install:
          - artifact:
              url: http://127.0.0.1:9/x.bin
              sha256: {"a" * 64}
              checksum: abc
        """,
    )
    result = run("resolve")
    helpers.assert_user_error(
        result,
        "./recipes/frameworks/tinybeta.yaml:3: summry",
        "unknown key 'summry'",
        "./recipes/models/remotemodel.yaml:8: install[0].artifact.checksum",
        "unknown key 'checksum'",
    )
    assert not project.lock.exists()


def test_unknown_recipe_name_suggests_the_close_one(
    make_project: Callable[..., Any], cli: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(requires=["tinybetaa"])
    result = cli(project.root, "resolve", home=project.home, server=project.server)
    helpers.assert_user_error(result, "tinybetaa", "mlenv.yaml -> tinybetaa")
    assert re.search(r"hint: did you mean [^?]*\btinybeta\b", result.err), result.stderr


def test_unsatisfiable_versions_show_the_chain_from_the_manifest(
    make_project: Callable[..., Any], cli: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(requires=["tinymodel"])
    recipe = project.recipes / "models" / "tinymodel.yaml"
    recipe.write_text(recipe.read_text().replace("tinybeta >=1", "tinybeta >=3"))
    result = cli(project.root, "resolve", home=project.home, server=project.server)
    helpers.assert_user_error(
        result, "mlenv.yaml -> tinymodel 1.0 -> tinybeta >=3", "available: 1.0"
    )


def test_conflicting_requirements_show_both_chains(
    make_project: Callable[..., Any], cli: Callable[..., Any], helpers: Any
) -> None:
    project = make_project(requires=["tinybeta <2", "tinymodel"])
    beta = project.recipes / "frameworks" / "tinybeta.yaml"
    beta.write_text(beta.read_text().replace('versions: ["1.0"]', 'versions: ["1.0", "2.0"]'))
    model = project.recipes / "models" / "tinymodel.yaml"
    model.write_text(model.read_text().replace("tinybeta >=1", "tinybeta >=2"))
    result = cli(project.root, "resolve", home=project.home, server=project.server)
    helpers.assert_user_error(
        result, "mlenv.yaml -> tinybeta <2", "mlenv.yaml -> tinymodel 1.0 -> tinybeta >=2"
    )


def test_a_pypi_package_the_index_lacks(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    beta = project.recipes / "frameworks" / "tinybeta.yaml"
    beta.write_text(beta.read_text().replace("tinybeta=={version}", "nosuchpkg=={version}"))
    result = run("resolve")
    helpers.assert_user_error(result, "nosuchpkg==1.0", "pypi:")
    assert not project.lock.exists()


def test_frozen_without_a_lock(project: Any, run: Callable[..., Any], helpers: Any) -> None:
    for args in (("install", "--frozen"), ("exec", "--frozen", "--", "true")):
        result = run(*args)
        helpers.assert_user_error(result, "--frozen", "mlenv.lock", "mlenv resolve")
    assert not project.lock.exists()
    assert not (project.root / ".mlenv" / "envs").exists() or project.leftovers() == []


def test_unknown_target(resolved: Any, run: Callable[..., Any], helpers: Any) -> None:
    result = run("resolve", "--target", "nope")
    helpers.assert_user_error(result, "unknown target 'nope'", "host", "linux-x86_64-cpu")
    result = run("install", "--frozen", "--target", "nope")
    helpers.assert_user_error(result, "nope", "mlenv resolve --target nope")
    result = run("verify", "--target", "nope")
    helpers.assert_user_error(result, "nope")


def test_no_manifest(tmp_path: Path, run: Callable[..., Any], helpers: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("resolve", "install", "run"):
        result = run(command, folder=empty)
        helpers.assert_user_error(result, str(empty / "mlenv.yaml"), "mlenv init")
    assert list(empty.iterdir()) == [], "nothing is written"


def test_no_manifest_at_the_given_path(project: Any, run: Callable[..., Any], helpers: Any) -> None:
    result = run("resolve", "--manifest", "elsewhere/mlenv.yaml")
    helpers.assert_user_error(result, "elsewhere/mlenv.yaml")


def test_run_without_a_benchmark_section(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    result = run("run")
    helpers.assert_user_error(result, "benchmark")


def test_errors_with_json_print_one_document(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    result = run("install", "--frozen", "--json")
    helpers.assert_user_error(result, "--frozen")
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["error"]["kind"] == "lock" and doc["error"]["hint"]


@pytest.mark.parametrize(
    "args",
    [
        ("resolve", "--bogus"),
        ("install", "--target"),
        ("frobnicate",),
        ("--manifest",),
        ("run", "--scenario", "Nope"),
        (),
    ],
)
def test_bad_usage_exits_2(project: Any, run: Callable[..., Any], args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_errors_as_users_see_them(project: Any, mlenv: Callable[..., Any], helpers: Any) -> None:
    """The same diagnostics through `python -m mlenv` (exit codes of the real process)."""
    project.manifest.write_text("name: [unclosed\n")
    helpers.assert_user_error(mlenv(project, "resolve"), "mlenv.yaml:")
    usage = mlenv(project, "install", "--no-such-option")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert "--no-such-option" in usage.stderr


def test_two_artifacts_with_one_file_name(
    project: Any, run: Callable[..., Any], helpers: Any
) -> None:
    """Two artifacts of one package that share a file name cannot both be placed at
    `artifacts/<package>/<name>`: a diagnostic naming them, not an internal error."""
    server = project.server
    server.files["/other/model.bin"] = b"other weights"
    project.write(
        "recipes/models/remotemodel.yaml",
        f"""
        name: remotemodel
        kind: model
        versions: ["1.0"]
        install:
          - artifact: {{url: "{server.url("/artifacts/model.bin")}", sha256: {helpers.sha256(helpers.MODEL_BIN)}}}
          - artifact: {{url: "{server.url("/other/model.bin")}", sha256: {helpers.sha256(b"other weights")}}}
        """,
    )
    result = run("install")
    helpers.assert_user_error(result, "remotemodel", "model.bin")
    assert project.leftovers() == []


def test_a_target_of_another_machine_is_not_installed_here(
    resolved: Any, run: Callable[..., Any], helpers: Any
) -> None:
    added = run("resolve", "--target", "linux-aarch64-cpu")
    assert added.returncode == 0, str(added)
    result = run("install", "--frozen", "--target", "linux-aarch64-cpu")
    helpers.assert_user_error(result, "linux-aarch64-cpu", "cannot be installed on this machine")
    assert not resolved.env_dir("linux-aarch64-cpu").exists()
