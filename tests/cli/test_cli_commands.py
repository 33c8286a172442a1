"""`mlenv exec`, `targets`, `recipes`, `init`, and global options anywhere on the line."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.lock import load_lock
from mlenv.manifest import load_manifest


def test_exec_runs_inside_the_environment(installed: Any, mlenv: Callable[..., Any]) -> None:
    code = "import os, sys; print(os.environ['MLENV_ENV']); print(os.environ['MLENV_ARTIFACTS']); print(sys.prefix)"
    result = mlenv(installed, "exec", "--", "python", "-c", code)
    assert result.returncode == 0, str(result)
    env_line, artifacts_line, prefix_line = result.stdout.splitlines()
    assert env_line == str(installed.env)
    assert artifacts_line == str(installed.env / "artifacts")
    assert Path(prefix_line).resolve() == (installed.env / "venv").resolve(), "the env's python"


def test_exec_puts_the_env_first_on_path_and_passes_the_exit_code(
    installed: Any, mlenv: Callable[..., Any]
) -> None:
    code = "import os, sys, tinybeta; print(os.environ['PATH'].split(os.pathsep)[0]); sys.exit(7)"
    result = mlenv(installed, "exec", "--", "python", "-c", code)
    assert result.returncode == 7, str(result)
    assert result.stdout.strip() == str(installed.env / "venv" / "bin")


def test_exec_keeps_options_after_the_double_dash(
    installed: Any, mlenv: Callable[..., Any]
) -> None:
    """Global options stop at `--`: `--json` after it belongs to the command."""
    code = "import sys; print(sys.argv[1:])"
    result = mlenv(installed, "exec", "--", "python", "-c", code, "--json", "--offline")
    assert result.returncode == 0, str(result)
    assert result.stdout.strip() == "['--json', '--offline']"


def test_exec_unknown_command(installed: Any, mlenv: Callable[..., Any], helpers: Any) -> None:
    result = mlenv(installed, "exec", "--", "no-such-command-xyz")
    helpers.assert_user_error(result, "no-such-command-xyz")


def test_exec_installs_when_needed(resolved: Any, mlenv: Callable[..., Any]) -> None:
    result = mlenv(
        resolved, "exec", "--", "python", "-c", "import os; print(os.environ['MLENV_ENV'])"
    )
    assert result.returncode == 0, str(result)
    assert Path(result.stdout.strip()).is_dir()


@pytest.mark.parametrize("order", ["after", "before"])
def test_targets_json(project: Any, cli: Callable[..., Any], order: str) -> None:
    args = ("targets", "--json") if order == "after" else ("--json", "targets")
    result = cli(project.root, *args, home=project.home, server=project.server)
    assert result.returncode == 0, str(result)
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["command"] == "targets" and doc["ok"] is True
    data = doc["data"]
    assert data["host"]["os"] and data["host"]["python"]
    assert "linux-x86_64-cpu" in data["targets"]
    assert "Traceback" not in result.stderr


def test_recipes_list_json(project: Any, cli: Callable[..., Any]) -> None:
    result = cli(
        project.root, "recipes", "list", "--json", home=project.home, server=project.server
    )
    assert result.returncode == 0, str(result)
    doc = json.loads(result.stdout)
    assert doc["command"] == "recipes list"
    by_name = {r["name"]: r for r in doc["data"]["recipes"]}
    assert {"tinybeta", "tinymodel", "remotemodel", "tinytable"} <= set(by_name)
    assert by_name["tinybeta"]["file"] == "./recipes/frameworks/tinybeta.yaml"
    assert by_name["tinytable"]["kind"] == "dataset"
    only = cli(project.root, "recipes", "list", "--kind", "model", "--json", home=project.home)
    assert {r["kind"] for r in json.loads(only.stdout)["data"]["recipes"]} == {"model"}


def test_recipes_show_and_lint(project: Any, cli: Callable[..., Any], helpers: Any) -> None:
    shown = cli(project.root, "recipes", "show", "tinybeta", "--json", home=project.home)
    assert shown.returncode == 0, str(shown)
    assert json.loads(shown.stdout)["data"]["recipe"]["versions"] == ["1.0"]
    missing = cli(project.root, "recipes", "show", "nope", home=project.home)
    helpers.assert_user_error(missing, "nope")
    lint = cli(project.root, "recipes", "lint", "recipes", home=project.home)
    assert lint.returncode == 0, str(lint)


def test_human_output_goes_to_stderr(project: Any, cli: Callable[..., Any]) -> None:
    result = cli(project.root, "targets", home=project.home)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "linux-x86_64-cpu" in result.stderr


def test_global_options_anywhere(project: Any, cli: Callable[..., Any], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    manifest = str(project.manifest)
    result = cli(elsewhere, "recipes", "list", "--manifest", manifest, "--json", home=project.home)
    assert result.returncode == 0, str(result)
    assert "tinybeta" in {r["name"] for r in json.loads(result.stdout)["data"]["recipes"]}
    result = cli(
        elsewhere, f"--manifest={manifest}", "recipes", "--json", "list", home=project.home
    )
    assert result.returncode == 0, str(result)


def test_init_example_writes_a_manifest_that_loads(tmp_path: Path, cli: Callable[..., Any]) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    result = cli(folder, "init", "--example", "digits", home=tmp_path / "home")
    assert result.returncode == 0, str(result)
    assert sorted(os.listdir(folder)) == ["mlenv.yaml"]
    manifest = load_manifest(folder / "mlenv.yaml")
    assert manifest.benchmark is not None and manifest.requires
    check = cli(folder, "resolve", "--check", home=tmp_path / "home")
    assert check.returncode == 1 and "no lock file" in check.err, str(check)
    again = cli(folder, "init", "--example", "digits", home=tmp_path / "home")
    assert again.returncode == 1 and "--force" in again.err
    unknown = cli(tmp_path, "init", "elsewhere", "--example", "nope", home=tmp_path / "home")
    assert unknown.returncode == 1 and "digits" in unknown.err
    assert not (tmp_path / "elsewhere" / "mlenv.yaml").exists()


def test_init_starter_in_a_new_folder(tmp_path: Path, cli: Callable[..., Any]) -> None:
    result = cli(tmp_path, "init", "newbench", home=tmp_path / "home")
    assert result.returncode == 0, str(result)
    manifest = load_manifest(tmp_path / "newbench" / "mlenv.yaml")
    assert manifest.name == "newbench"


def test_a_target_file_named_like_the_host_keeps_its_own_facts(
    make_project: Callable[..., Any], mlenv: Callable[..., Any]
) -> None:
    """`targets: [linux-x86_64-cpu]` locks the catalog file's facts (glibc 2.28, x86_64_v2),
    not this machine's, even where the host is named the same; listing both locks the host as
    `linux-x86_64-cpu-host` beside it."""
    project = make_project()
    manifest = project.root / "mlenv.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("targets: [host]", "targets: [linux-x86_64-cpu]"))
    assert "linux-x86_64-cpu" in manifest.read_text()
    resolved = mlenv(project, "resolve", "--target", "linux-x86_64-cpu")
    assert resolved.returncode == 0, str(resolved)
    facts = load_lock(project.lock).targets["linux-x86_64-cpu"].facts
    assert facts["microarch"] == "x86_64_v2" and facts["libc"] == {"glibc": "2.28"}
    manifest.write_text(text.replace("targets: [host]", "targets: [host, linux-x86_64-cpu]"))
    host = {"MLENV_HOST_OS": "linux", "MLENV_HOST_ARCH": "x86_64", "MLENV_HOST_CUDA": "none"}
    host["MLENV_HOST_GLIBC"] = "2.36"  # not the file's 2.28
    both = mlenv(project, "resolve", env={**project.environ(), **host})
    assert both.returncode == 0, str(both)
    targets = load_lock(project.lock).targets
    assert set(targets) == {"linux-x86_64-cpu", "linux-x86_64-cpu-host"}
    assert targets["linux-x86_64-cpu"].facts["libc"] == {"glibc": "2.28"}
    assert targets["linux-x86_64-cpu-host"].facts["libc"] == {"glibc": "2.36"}


def test_exec_reports_a_signal_as_128_plus_n(installed: Any, mlenv: Callable[..., Any]) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = mlenv(installed, "exec", "--", "python", "-c", code)
    assert result.returncode == 128 + 15, str(result)


def _complete(script: str, words: list[str]) -> list[str]:
    """What bash completes for `words` (the last one being typed) with the script loaded."""
    import subprocess

    line = " ".join(words)
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _mlenv; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_completion(project: Any, mlenv: Callable[..., Any]) -> None:
    result = mlenv(project, "completion", "bash")
    assert result.returncode == 0, str(result)
    assert set(_complete(result.stdout, ["mlenv", "re"])) >= {"resolve", "reproduce", "recipes"}
    assert "--upgrade" in _complete(result.stdout, ["mlenv", "resolve", "--up"])
    assert set(_complete(result.stdout, ["mlenv", "env", ""])) >= {"list", "gc", "remove"}


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_a_script(project: Any, mlenv: Callable[..., Any], shell: str) -> None:
    result = mlenv(project, "completion", shell)
    assert result.returncode == 0, str(result)
    assert "resolve" in result.stdout and "mlenv" in result.stdout
