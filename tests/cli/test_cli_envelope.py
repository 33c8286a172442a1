"""CONTRACTS §9's envelope, for every command of the README's tour: with `--json`, stdout is
exactly one JSON document `{"version": 1, "command", "ok", "data", "error"}`, success or
failure, and the exit status is 0 exactly when `ok` (2 for a usage error).

`exec` and `shell` keep the envelope too: the child's output goes to stderr (as the harness's
does for `run`), `ok` says that mlenv started it, `data.returncode` and the exit status are the
child's own.

One offline project, runnable with the `null` backend (tests/support/nullrun.py), resolved, run
and installed once for the module; each case runs in-process, or as `python -m mlenv` where a
child process writes to the terminal (run, reproduce, exec, shell).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import localpypi as H
import nullrun
import pytest
import tour

from mlenv.cli.main import build_parser

pytest.importorskip("mlperf_loadgen")

KEYS = {"version", "command", "ok", "data", "error"}
ERROR_KEYS = {"message", "where", "why", "hint", "details"}
PASSES_CHILD_CODE = {"exec", "shell"}
OFFLINE_RUN = ("--scenario", "Offline", "--mode", "performance", *nullrun.FAST, "--allow-invalid")


@dataclass(frozen=True)
class Case:
    """One command line, its envelope's `command` and `ok`, and what `data` must hold."""

    args: tuple[str, ...]
    command: str
    ok: bool
    keys: tuple[str, ...] = ()  # keys `data` has (a list when "[]")
    code: int | None = None  # the exit status; default 0 when ok, else 1
    child: bool = False  # a child writes to the terminal: run as a subprocess
    before: tuple[tuple[str, ...], ...] = ()  # command lines run first (must succeed)
    after: tuple[tuple[str, ...], ...] = ()  # and after (to restore the project)
    env: tuple[tuple[str, str], ...] = ()
    stderr_has: str | None = None

    @property
    def exit_code(self) -> int:
        return self.code if self.code is not None else 0 if self.ok else 1

    def __str__(self) -> str:
        return " ".join(self.args)


def ok(*args: str, command: str, keys: tuple[str, ...] = (), **kw: Any) -> Case:
    return Case(args=args, command=command, ok=True, keys=keys, **kw)


def fails(*args: str, command: str, **kw: Any) -> Case:
    return Case(args=args, command=command, ok=False, **kw)


ACCURACY_RUN = ("run", "--scenario", "Offline", "--mode", "accuracy", "--allow-invalid")
VALID_RUN = ("run", "--scenario", "Offline", "--mode", "performance")  # quick, calibrated
RESULTS = ("--results", "sqlite:///{tmp}/r.db")
IMPORTED = (("results", "import", "results", *RESULTS),)
RESULTS_CASES = [
    ok("results", "import", "results", *RESULTS, command="results import", keys=("runs", "new")),
    fails("results", "import", "{tmp}/nothing", *RESULTS, command="results import"),
    ok("results", "list", *RESULTS, command="results list", keys=("runs",), before=IMPORTED),
    fails("results", "list", *RESULTS, command="results list"),
    ok(
        "results",
        "show",
        "sha256:",
        *RESULTS,
        command="results show",
        keys=("point",),
        before=IMPORTED,
    ),
    fails("results", "show", "nosuch", *RESULTS, command="results show", before=IMPORTED),
    ok("results", "pareto", *RESULTS, command="results pareto", keys=("groups",), before=IMPORTED),
    fails(
        "results",
        "pareto",
        "--objective",
        "x=most",
        *RESULTS,
        command="results pareto",
        before=IMPORTED,
    ),
    ok(
        "results",
        "export",
        "--format",
        "summary-csv",
        *RESULTS,
        command="results export",
        keys=("content",),
        before=IMPORTED,
    ),
    fails("results", "export", "--format", "nosuch", *RESULTS, command="results export", code=2),
    ok(
        "results",
        "plot",
        "-o",
        "{tmp}/front.svg",
        *RESULTS,
        command="results plot",
        keys=("path",),
        before=IMPORTED,
    ),
    fails("results", "plot", *RESULTS, command="results plot"),
    ok(
        "results",
        "export",
        "--format",
        "fair",
        "-o",
        "{tmp}/crate",
        *RESULTS,
        command="results export",
        before=IMPORTED,
    ),
    fails("results", "export", "--format", "fair", *RESULTS, command="results export"),
    ok(
        "dashboard",
        "build",
        "-o",
        "{tmp}/site",
        *RESULTS,
        command="dashboard build",
        keys=("path", "runs"),
        before=IMPORTED,
    ),
    fails("dashboard", "build", "--results", "sqlite:///{tmp}/none.db", command="dashboard build"),
]
NO_REQUIREMENT = ("mlperf-loadgen", "--no-resolve")
PYTHON_PRINTS = ("--", "python", "-c", "print('printed by the child')")
NO_SUCH = ("--target", "nosuch")
CASES = [
    ok("init", "{tmp}/fresh", command="init", keys=("manifest",)),
    ok("init", "--list-examples", command="init", keys=("examples",)),
    fails("init", ".", command="init"),
    fails("init", "{tmp}/x", "--example", "nosuch", command="init"),
    ok("add", *NO_REQUIREMENT, command="add", after=(("remove", *NO_REQUIREMENT),)),
    fails("add", "Not A Requirement!", command="add"),
    fails("add", "model", "{tmp}/missing.onnx", command="add"),
    ok("remove", *NO_REQUIREMENT, command="remove", before=(("add", *NO_REQUIREMENT),)),
    fails("remove", "nothere", command="remove"),
    ok("resolve", "--check", command="resolve", keys=("lock", "stale")),
    ok("resolve", command="resolve", keys=("lock", "changed", "targets")),
    fails("resolve", *NO_SUCH, command="resolve"),
    fails("resolve", "--check", *NO_SUCH, command="resolve"),
    ok("install", "--frozen", command="install", keys=("target", "path", "built")),
    fails("install", *NO_SUCH, command="install"),
    ok("run", "--frozen", *OFFLINE_RUN, command="run", keys=("[]",), child=True),
    fails("run", "--frozen", *NO_SUCH, command="run", child=True),
    ok("tree", command="tree", keys=("nodes", "target")),
    fails("tree", *NO_SUCH, command="tree"),
    ok("why", "zeromodel", command="why", keys=("chains", "name", "target")),
    fails("why", "nosuch", command="why"),
    ok("verify", command="verify", keys=("differences", "target")),
    fails("verify", *NO_SUCH, command="verify"),
    ok(
        "exec",
        "--frozen",
        *PYTHON_PRINTS,
        command="exec",
        keys=("returncode",),
        child=True,
        stderr_has="printed by the child",
    ),
    ok(
        "exec",
        "--frozen",
        "--",
        "python",
        "-c",
        "raise SystemExit(3)",
        command="exec",
        keys=("returncode",),
        code=3,
        child=True,
    ),
    fails("exec", "--frozen", command="exec", child=True),
    ok(
        "shell",
        "--frozen",
        command="shell",
        keys=("returncode",),
        child=True,
        env=(("SHELL", shutil.which("true") or "/bin/true"),),
    ),
    fails("shell", *NO_SUCH, command="shell", child=True),
    ok("env", "list", command="env list", keys=("envs",)),
    ok(
        "env",
        "remove",
        "{target}",
        command="env remove",
        keys=("removed",),
        after=(("install", "--frozen"),),
    ),
    fails("env", "remove", "nosuch", command="env remove"),
    ok("env", "gc", "--dry-run", command="env gc", keys=("dry_run", "freed")),
    fails("env", "gc", "--dry-run", "{tmp}/nowhere", command="env gc"),
    ok("pack", "-o", "{tmp}/b.tar", command="pack", keys=("bundle", "sha256")),
    fails("pack", *NO_SUCH, command="pack"),
    ok(
        "reproduce",
        "{tmp}/bundle.tar",
        "--out",
        "{tmp}/repro",
        "--tolerance",
        "100000",
        command="reproduce",
        keys=("badges",),
        child=True,
        before=(("pack", "-o", "{tmp}/bundle.tar"),),
    ),
    fails("reproduce", "{tmp}/nope.tar", command="reproduce", child=True),
    ok("diff", "mlenv.lock", "mlenv.lock", command="diff", keys=("identical", "targets")),
    ok("diff", "mlenv.lock", "{other_lock}", command="diff", keys=("identical", "targets")),
    fails("diff", "mlenv.lock", "{other_lock}", "--exit-code", command="diff"),
    fails("diff", "mlenv.lock", "{tmp}/missing.lock", command="diff"),
    ok("export", "--format", "requirements", command="export", keys=("content",)),
    fails("export", "--format", "requirements", *NO_SUCH, command="export"),
    fails("export", "--format", "nosuch", command="export", code=2),
    ok("recipes", "list", command="recipes list", keys=("recipes",)),
    ok("recipes", "list", "--kind", "model", command="recipes list", keys=("recipes",)),
    fails("recipes", "list", "--kind", "nosuch", command="recipes list", code=2),
    ok("recipes", "show", "zeromodel", command="recipes show", keys=("recipe",)),
    fails("recipes", "show", "nosuch", command="recipes show"),
    ok("recipes", "lint", "recipes", command="recipes lint", keys=("recipes",)),
    fails("recipes", "lint", "{bad_recipe}", command="recipes lint"),
    ok("recipes", "checksum", "zeromodel", command="recipes checksum", keys=("artifacts",)),
    fails("recipes", "checksum", "nosuch", command="recipes checksum"),
    ok("targets", command="targets", keys=("host", "targets")),
    ok("explore", "{sweep}", "--dry-run", command="explore", keys=("points", "counts")),
    fails("explore", "{tmp}/nosuch.yaml", "--dry-run", command="explore"),
    *RESULTS_CASES,
    ok(
        "submit",
        "--submitter",
        "Org",
        "--test",
        "-o",
        "{tmp}/sub",
        command="submit",
        before=(VALID_RUN, ACCURACY_RUN),
    ),
    fails(
        "submit", "--submitter", "Org", "-o", "{tmp}/sub", command="submit", before=(ACCURACY_RUN,)
    ),
    fails("submit", "check", "{tmp}", command="submit"),
    ok("completion", "bash", command="completion", keys=("script",)),
    fails("completion", "nosh", command="completion", code=2),
    fails("nosuch-command", command="", code=2),
]
NO_CHEAP_FAILURE = {"targets", "env list"}  # nothing a user can get wrong on these lines
# it serves until Ctrl-C: tests/dashboard runs it as a child and checks its envelope
TESTED_ELSEWHERE = {"dashboard serve"}


@dataclass
class World:
    project: H.Project
    target: str
    folder: Path
    files: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("envelope")
    server = H.start_server(nullrun.hostsite_wheels(folder / "wheels"))
    try:
        project = nullrun.write_runnable(folder / "project", folder / "home", server)
        for args in (("resolve",), ("run", *OFFLINE_RUN)):
            done = H.run_mlenv(project, *args, timeout=300)
            assert done.returncode == 0, str(done)
        (target,) = [p.name for p in project.envs.iterdir() if not p.name.startswith(".")]
        text = project.lock.read_text(encoding="utf-8")
        other = text.replace("version: 6.0.17}", "version: 6.0.18}")
        assert other != text
        (folder / "other.lock").write_text(other, encoding="utf-8")
        (folder / "bad.yaml").write_text("name: bad\nkind: model\nversons: [1]\n")
        sweep = folder / "sweep.yaml"
        sweep.write_text(
            f"name: envelope\nbase: {project.manifest}\naxes:\n  benchmark.max-batch: [1, 2]\n"
        )
        files = {
            "other_lock": str(folder / "other.lock"),
            "bad_recipe": str(folder / "bad.yaml"),
            "sweep": str(sweep),
        }
        yield World(project=project, target=target, folder=folder, files=files)
    finally:
        server.stop()


def run_case(case: Case, world: World, tmp: Path, monkeypatch: Any, capsys: Any) -> H.Result:
    def fill(args: tuple[str, ...]) -> list[str]:
        names = {"tmp": str(tmp), "root": str(world.project.root), "target": world.target}
        return [a.format(**names, **world.files) for a in args]

    environ = world.project.environ() | dict(case.env)

    def mlenv(args: tuple[str, ...], child: bool) -> H.Result:
        if child:
            return H.run_mlenv(world.project, *fill(args), env=environ, timeout=300)
        return H.run_in_process(monkeypatch, capsys, world.project.root, fill(args), environ)

    for before in case.before:
        done = mlenv(before, child=True)
        assert done.returncode == 0, str(done)
    # --json first: after exec's `--` it would be the child's
    result = mlenv(("--json", *case.args), child=case.child)
    for after in case.after:
        done = mlenv(after, child=True)
        assert done.returncode == 0, str(done)
    return result


def one_document(stdout: str) -> Any:
    """The JSON document that is all of stdout (a second one, or any text, is a failure)."""
    decoder = json.JSONDecoder()
    text = stdout.strip()
    assert text, "nothing on stdout"
    document, end = decoder.raw_decode(text)
    assert not text[end:].strip(), f"more than one document on stdout:\n{stdout}"
    return document


def check_envelope(case: Case, result: H.Result) -> None:
    doc = one_document(result.stdout)
    assert isinstance(doc, dict) and set(doc) == KEYS, doc
    assert doc["version"] == 1
    assert doc["command"] == case.command
    assert doc["ok"] is case.ok, doc["error"]
    assert result.returncode == case.exit_code
    if case.command not in PASSES_CHILD_CODE:
        assert (result.returncode == 0) is doc["ok"]
    if case.ok:
        assert doc["error"] is None
        data = doc["data"]
        if case.keys == ("[]",):
            assert isinstance(data, list) and data, data
        else:
            assert isinstance(data, dict), f"no data: {data!r}"
            assert set(case.keys) <= set(data), sorted(data)
    else:
        error = doc["error"]
        assert isinstance(error, dict) and set(error) >= ERROR_KEYS, error
        assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", CASES, ids=str)
def test_one_envelope_on_stdout(
    case: Case, world: World, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    result = run_case(case, world, tmp_path, monkeypatch, capsys)
    try:
        check_envelope(case, result)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{result}") from None
    if case.stderr_has:
        assert case.stderr_has in result.stderr, "the child's output goes to stderr"


def test_the_cases_cover_the_tour() -> None:
    """Every command of the README's tour runs above, succeeding and (where a user can get it
    wrong) failing."""
    names = {entry.name for entry in tour.tour(build_parser())} - TESTED_ELSEWHERE
    succeeding = {c.command for c in CASES if c.ok}
    failing = {c.command for c in CASES if not c.ok}
    assert names - succeeding == set(), "tour commands never run successfully"
    assert names - failing - NO_CHEAP_FAILURE == set(), "tour commands never run failing"


def test_a_failure_that_has_data_keeps_it(
    world: World, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """`diff --exit-code` with differences: ok false, exit 1, and still the differences."""
    case = fails("diff", "mlenv.lock", "{other_lock}", "--exit-code", command="diff")
    doc = one_document(run_case(case, world, tmp_path, monkeypatch, capsys).stdout)
    assert doc["data"] is not None and doc["data"]["identical"] is False, doc


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("--version",)], ids=str)
def test_help_under_json_is_an_envelope(args: tuple[str, ...], capsys: Any) -> None:
    """`--json --help`: the help text is the envelope's data, stdout holds nothing else."""
    from mlenv.cli.main import main

    assert main(["--json", *args]) == 0
    doc = one_document(capsys.readouterr().out)
    assert set(doc) == KEYS and doc["ok"] is True
    assert doc["command"] == (args[0] if not args[0].startswith("-") else "")
    assert "mlenv" in doc["data"]["help"]
