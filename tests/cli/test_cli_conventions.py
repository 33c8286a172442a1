"""CONTRACTS §9's conventions, as a user meets them: -q and -v anywhere on the line, the manifest
found in a parent folder (--manifest overrides), plain text without a terminal or with
NO_COLOR, `--locked` refusing a stale lock. (Ctrl-C's exit 130: tests/security.)"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
import tour

from mlenv import Project
from mlenv.cli.main import build_parser, split_globals

ANSI = "\x1b["
LOCK_FLAGS_ON = ("install", "run", "exec", "shell", "pack")  # §9: --frozen and --locked


@pytest.fixture
def run(cli: Callable[..., Any], project: Any) -> Callable[..., Any]:
    """run(*args, folder=project.root): in-process `mlenv ARGS…`."""

    def _run(*args: str, folder: Path | None = None) -> Any:
        return cli(folder or project.root, *args, home=project.home, server=project.server)

    return _run


# -- -q and -v ---------------------------------------------------------------------------------


def test_quiet_silences_info_and_warnings_but_not_errors(
    installed: Any, run: Callable[..., Any]
) -> None:
    text = installed.lock.read_text(encoding="utf-8")
    installed.lock.write_text(text.replace("\nversion: 1\n", '\nversion: "1.9"\n', 1))
    loud = run("verify")
    assert loud.returncode == 0, str(loud)
    assert "warning:" in loud.stderr and "matches the lock" in loud.stderr, str(loud)
    for args in (("-q", "verify"), ("verify", "--quiet")):
        quiet = run(*args)
        assert quiet.returncode == 0 and quiet.stderr == "", str(quiet)
    failed = run("verify", "--target", "nosuch", "-q")
    H.assert_user_error(failed, "the lock has no target 'nosuch'")
    assert "warning:" not in failed.stderr


def test_quiet_keeps_the_documented_stdout(installed: Any, run: Callable[..., Any]) -> None:
    """`install` prints the environment's path on stdout: data, not chatter."""
    result = run("install", "--frozen", "-q")
    assert result.returncode == 0 and result.stderr == "", str(result)
    assert Path(result.stdout.strip()) == installed.env


def test_verbose_shows_debug_lines_anywhere_on_the_line(
    resolved: Any, run: Callable[..., Any]
) -> None:
    plain = run("resolve", "--check")
    assert "manifest:" not in plain.stderr, str(plain)
    for args in (("-v", "resolve", "--check"), ("resolve", "--check", "--verbose")):
        result = run(*args)
        assert result.returncode == 0, str(result)
        assert f"manifest: {resolved.manifest}" in result.err, str(result)
        assert f"lock: {resolved.lock}" in result.err
        assert f"MLENV_HOME: {resolved.home}" in result.err


def test_verbose_shows_the_uv_command_lines(installed: Any, run: Callable[..., Any]) -> None:
    """-v names each uv command mlenv runs (ConsoleReporter.debug), so a failing install can
    be replayed by hand."""
    result = run("-v", "install", "--force")
    assert result.returncode == 0, str(result)
    assert re.search(r"\buv\b\S*\s.*\b(venv|pip)\b", result.stderr), str(result)


def test_global_options_are_taken_out_up_to_a_double_dash() -> None:
    options, rest = split_globals(["exec", "-v", "--json", "--", "python", "-v", "-q", "--json"])
    assert options.verbosity == 1 and options.json
    assert rest == ["exec", "--", "python", "-v", "-q", "--json"]
    options, rest = split_globals(["-vv", "recipes", "--manifest", "m.yaml", "list", "-v"])
    assert options.verbosity == 3 and options.manifest == Path("m.yaml")
    assert rest == ["recipes", "list"]
    options, _ = split_globals(["run", "--quiet"])
    assert options.verbosity == -1


# -- the manifest, found ----------------------------------------------------------------------


def test_the_manifest_is_found_in_a_parent_folder(resolved: Any, run: Callable[..., Any]) -> None:
    nested = resolved.root / "a" / "b"
    nested.mkdir(parents=True)
    result = run("--json", "resolve", "--check", folder=nested)
    assert result.returncode == 0, str(result)
    assert json.loads(result.stdout)["data"]["lock"] == str(resolved.lock)
    assert Project.open(nested).manifest_path == resolved.manifest
    assert Project.open(resolved.manifest).manifest_path == resolved.manifest


def test_manifest_overrides_discovery(resolved: Any, run: Callable[..., Any]) -> None:
    nested = resolved.root / "a" / "b"
    nested.mkdir(parents=True)
    alt = nested / "alt.yaml"
    alt.write_text(
        "name: alt\nrecipes: [../../recipes]\ntargets: [host]\nrequires: [tinybeta]\n",
        encoding="utf-8",
    )
    result = run("resolve", "--check", "--manifest", "alt.yaml", folder=nested)
    assert result.returncode == 1, str(result)
    assert str(nested / "mlenv.lock") in result.err, "the lock beside --manifest, not the parent's"
    by_folder = run("--manifest", str(resolved.root), "resolve", "--check", folder=nested)
    assert by_folder.returncode == 0, str(by_folder)  # a folder holding mlenv.yaml


def test_no_manifest_anywhere_says_so(tmp_path: Path, run: Callable[..., Any]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    H.assert_user_error(run("resolve", folder=empty), "no manifest", "mlenv init")


# -- plain text ---------------------------------------------------------------------------------


def stderr_on_a_terminal(project: Any, *args: str, env: dict[str, str]) -> str:
    """`python -m mlenv ARGS…` with stderr on a pseudo-terminal; what it wrote there."""
    main, child = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlenv", *args],
            cwd=project.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=child, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(child)
    assert proc.returncode == 1
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    return out.decode(errors="replace")


def test_no_color_and_no_terminal_give_plain_text(resolved: Any) -> None:
    base = {
        k: v
        for k, v in resolved.environ().items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    base["TERM"] = "xterm-256color"
    failing = ("install", "--frozen", "--target", "nosuch")
    coloured = stderr_on_a_terminal(resolved, *failing, env=base)
    assert "error:" in coloured and ANSI in coloured, "a terminal gets colours"
    plain = stderr_on_a_terminal(resolved, *failing, env=base | {"NO_COLOR": "1"})
    assert "error:" in plain and ANSI not in plain, repr(plain)
    piped = H.run_mlenv(resolved, *failing, env=base)
    assert "error:" in piped.stderr and ANSI not in piped.stderr, repr(piped.stderr)


# -- --frozen and --locked ----------------------------------------------------------------------


def test_locked_refuses_a_stale_lock_and_leaves_it(resolved: Any, run: Callable[..., Any]) -> None:
    before = resolved.lock.read_bytes()
    text = resolved.manifest.read_text(encoding="utf-8")
    resolved.manifest.write_text(text.replace("  - tinytable\n", ""), encoding="utf-8")
    result = run("install", "--locked")
    H.assert_user_error(result)
    assert resolved.lock.read_bytes() == before, "--locked never rewrites the lock"
    assert not resolved.envs.exists() or not any(resolved.envs.iterdir())
    both = run("install", "--locked", "--frozen")
    assert both.returncode == 2, str(both)


def test_lock_flags_on_every_command_that_installs() -> None:
    commands = tour.subcommands(build_parser())
    for name in LOCK_FLAGS_ON:
        assert {"--frozen", "--locked"} <= tour.options(commands[name]), name


def test_verbose_shows_the_harness_command_line(tmp_path: Path) -> None:
    """-v names the harness process mlenv starts (its interpreter and --config file)."""
    pytest.importorskip("mlperf_loadgen")
    import nullrun

    server = H.start_server(nullrun.hostsite_wheels(tmp_path / "wheels"))
    try:
        project = nullrun.write_runnable(tmp_path / "project", tmp_path / "home", server)
        assert H.run_mlenv(project, "resolve").returncode == 0
        args = ("--scenario", "Offline", "--mode", "performance", *nullrun.FAST)
        result = H.run_mlenv(project, "run", "-v", *args, "--allow-invalid", timeout=300)
    finally:
        server.stop()
    assert result.returncode == 0, str(result)
    assert re.search(r"python\S*\s.*--config\s", result.stderr), str(result)
