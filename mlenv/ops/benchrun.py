"""Running the harness for a benchmark: shared by `mlenv run` and `mlenv reproduce`.

One harness process per (scenario, mode), then per compliance test: the env's interpreter,
isolated (`-I`), sees only the env's packages plus a folder that holds nothing but the harness
package. The harness guards itself against hangs (its watchdog ends a test whose samples stop
completing); here an interrupt stops the child before mlenv exits. Each run writes into a
temporary sibling of its result folder, renamed into place only once the harness succeeded
(`staging`): an interrupted or failed run leaves the previous result whole.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlenv.envs.activation import activation
from mlenv.envs.materialize import Environment
from mlenv.errors import LockError, RunError
from mlenv.harness.config.model import (
    BackendSpec,
    ComplianceSpec,
    DataSpec,
    ModelSpec,
    RunConfig,
    TensorSpec,
)
from mlenv.index import Located
from mlenv.lock import LockTarget
from mlenv.manifest import Benchmark

from . import staging as staging_mod
from .project import Project

COMPLIANCE_TESTS = ("TEST01", "TEST04")
CACHE = ".harness-cache"  # in the env folder: preprocessed samples, memory-mapped
STOP_GRACE_S = 10

# Run in the env's interpreter as `-c BOOTSTRAP PARENT_PID HARNESS_FOLDER --config FILE`. The
# harness dies with mlenv: on Linux the kernel sends it SIGKILL when mlenv's thread that started it
# ends (PR_SET_PDEATHSIG; `mlenv` starts it from its main thread), and a parent already gone by
# then (the race before prctl) is caught by comparing getppid(); elsewhere a daemon thread polls
# getppid() every second. It imports nothing of mlenv.
BOOTSTRAP = """\
import os, sys, runpy
parent = int(sys.argv.pop(1))
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
else:
    import threading, time
    def _orphaned():
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), 9)
    threading.Thread(target=_orphaned, name="mlenv-parent-watch", daemon=True).start()
if os.getppid() != parent:
    os._exit(137)
sys.path.insert(0, sys.argv.pop(1))
runpy.run_module("mlenv_harness", run_name="__main__", alter_sys=True)
"""


def harness_dir() -> Path:
    spec = importlib.util.find_spec("mlenv.harness")
    if spec is None or not spec.submodule_search_locations:
        raise RunError(
            "the mlenv harness is missing from this installation", hint="reinstall mlenv"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def harness_path(env: Environment) -> Path:
    """A folder holding only `mlenv_harness` -> the harness package: all the harness sees."""
    folder = env.path / ".harness"
    folder.mkdir(exist_ok=True)
    link = folder / "mlenv_harness"
    target = harness_dir()
    if not link.is_symlink() or Path(os.readlink(link)) != target:
        tmp = folder / f".link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)
    return folder


def locked_recipe(project: Project, section: LockTarget, name: str) -> Located:
    located = project.index.get(name)
    package = section.packages.get(name)
    if located is None or package is None:
        raise LockError(
            f"{name} is not in the lock's target {section.name}", hint="run `mlenv resolve`"
        )
    if package.recipe != f"sha256:{located.recipe.sha256}":
        raise LockError(
            f"the recipe of {name} changed since the lock was written ({located.label})",
            hint="run `mlenv resolve` (without --frozen) to update the lock",
        )
    return located


def artifact_file(env: Environment, package: str) -> Path:
    files = env.artifact(package)
    if not files:
        raise RunError(
            f"{package} has no artifact in the environment", hint="check its recipe's install:"
        )
    return files[0]


def dataset_digest(section: LockTarget, package: str) -> str | None:
    """The lock's hashes of a dataset's artifacts: the QSL cache key (no re-hashing at run)."""
    hashes = []
    for pin in sorted(section.artifacts, key=lambda a: a.name):
        if pin.package != package:
            continue
        if pin.member_sha256:
            hashes.append(f"sha256:{pin.member_sha256}")
        elif pin.tree_sha256:
            hashes.append(f"tree:{pin.tree_sha256}")
        elif pin.sha256:
            hashes.append(f"sha256:{pin.sha256}")
        elif pin.md5:
            hashes.append(f"md5:{pin.md5}")
        else:
            return None  # local data without a hash: the harness hashes what it finds
    return ",".join(hashes) or None


def run_config(
    project: Project,
    env: Environment,
    section: LockTarget,
    bench: Benchmark,
    scenario: str,
    mode: str,
    settings: dict[str, Any],
    out: Path,
    *,
    compliance: str | None = None,
    reference_dir: Path | None = None,
) -> dict[str, Any]:
    """The run config document of one harness process (its schema: `mlenv.harness.config`)."""
    config = RunConfig(
        benchmark=bench.model,
        dataset=bench.dataset,
        scenario=scenario,
        mode=mode,
        output_dir=out,
        model=_model_spec(locked_recipe(project, section, bench.model), env),
        data=_data_spec(locked_recipe(project, section, bench.dataset), env, section),
        backend=BackendSpec(
            name=bench.backend,
            version=section.packages[bench.backend].version,
            threads=bench.threads,
            max_batch=bench.max_batch,
            workers=bench.workers,
            max_delay_us=bench.max_delay_us,
        ),
        settings=settings,
        lock=section.digest(),
        target_name=section.name,
        target_facts=section.facts,
        cache_dir=env.path / CACHE,
        compliance=(
            ComplianceSpec(test=compliance, reference_dir=reference_dir)
            if compliance is not None and reference_dir is not None
            else None
        ),
    )
    return config.to_dict()


def _model_spec(located: Located, env: Environment) -> ModelSpec:
    model = located.recipe
    return ModelSpec(
        path=artifact_file(env, model.name),
        format=_needed(located, "format", model.format),
        inputs=tuple(_tensor(t) for t in model.inputs),
        outputs=tuple(_tensor(t) for t in model.outputs),
    )


def _data_spec(located: Located, env: Environment, section: LockTarget) -> DataSpec:
    data = located.recipe
    preprocess = data.preprocess_map
    samples = _needed(located, "samples", data.samples)
    return DataSpec(
        path=artifact_file(env, data.name),
        samples=samples,
        performance_sample_count=data.performance_sample_count or samples,
        preprocess=_needed(located, "preprocess", preprocess.get("name")),
        preprocess_params={k: v for k, v in preprocess.items() if k != "name"},
        metric=_needed(located, "metric", data.metric),
        digest=dataset_digest(section, data.name),
    )


def _needed(located: Located, key: str, value: Any) -> Any:
    """A recipe field the harness cannot run without."""
    if value is None or value == "":
        raise RunError(
            f"the {located.recipe.kind} recipe {located.recipe.name} has no `{key}:`, "
            "which the harness needs to run it",
            where=located.label,
            hint=f"add `{key}:` to that recipe (see `mlenv recipes show {located.recipe.name}`)",
        )
    return value


def _tensor(spec: Any) -> TensorSpec:
    return TensorSpec(name=spec.name, shape=tuple(spec.shape), dtype=spec.dtype)


def run_harness(env: Environment, config: dict[str, Any], project: Project) -> dict[str, Any]:
    """One harness process; its folder replaces `output_dir` only once it succeeded."""
    folder = harness_path(env)
    final = Path(config["output_dir"])
    staging = staging_mod.prepare(final)
    what = config.get("compliance", {}).get("test") or config["mode"]
    previous = (
        f"the previous result in {final} is unchanged"
        if final.exists()
        else f"nothing was written to {final}"
    )
    try:
        returncode = _start(env, folder, {**config, "output_dir": str(staging)}, project)
    except BaseException as e:  # an interrupt (or a harness that could not start)
        staging_mod.discard(staging)
        if isinstance(e, KeyboardInterrupt):
            project.reporter.warn(f"{config['scenario']} {what} was interrupted; {previous}")
        raise
    result_file = staging / "result.json"
    if returncode != 0 or not result_file.exists():
        status = (
            f"killed by signal {signal.Signals(-returncode).name}"
            if returncode < 0 and -returncode in signal.valid_signals()
            else f"exit {returncode}"
        )
        raise RunError(
            f"the harness failed for {config['scenario']} {what} ({status})",
            where=str(staging),
            why=previous,
            hint="see the harness message above; LoadGen's logs of this run are in that folder "
            "(removed by the next run)",
        )
    staging_mod.publish(staging, final)
    return dict(json.loads((final / "result.json").read_text(encoding="utf-8")))


def _start(env: Environment, folder: Path, config: dict[str, Any], project: Project) -> int:
    with tempfile.TemporaryDirectory(prefix="mlenv-run-") as tmp:
        config_file = Path(tmp, "run.json")
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        child_env = activation(
            env, {k: v for k, v in project.environ.items() if not k.startswith("PYTHON")}
        )
        cmd = [str(env.python), "-I", "-c", BOOTSTRAP, str(os.getpid()), str(folder)]
        cmd += ["--config", str(config_file)]
        shown = [*cmd[:3], "<mlenv bootstrap>", *cmd[-2:]]  # BOOTSTRAP is a whole script
        project.reporter.debug("harness: " + shlex.join(shown))
        return _supervise(cmd, child_env)


def _supervise(cmd: list[str], child_env: dict[str, str]) -> int:
    """Run the harness; on an interrupt, stop it (SIGINT, then SIGKILL) before going on.

    The child stays in mlenv's process group, so a terminal's Ctrl-C reaches both; BOOTSTRAP
    makes it die with mlenv should mlenv itself be killed. Call it from the main thread: Linux's
    parent-death signal fires when the thread that started the child ends.
    """
    proc = subprocess.Popen(cmd, env=child_env, stdin=subprocess.DEVNULL, stdout=_stderr_fd())
    try:
        return proc.wait()
    except BaseException:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def _stderr_fd() -> int:
    """Where the harness's stdout goes: mlenv's stderr, never its stdout, which is for `--json`
    alone (CONTRACTS §9). A stand-in `sys.stderr` without a descriptor (a test's capture):
    file descriptor 2."""
    try:
        sys.stderr.flush()
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return 2


def result_dir(root: Path, section: LockTarget, bench: Benchmark, scenario: str, mode: str) -> Path:
    """MLPerf's submission layout: results/<system>/<benchmark>/<scenario>/<mode>[/run_1]."""
    base = root / section.name / bench.model / scenario
    return base / "performance" / "run_1" if mode == "performance" else base / "accuracy"


def run_benchmark(
    project: Project,
    section: LockTarget,
    env: Environment,
    bench: Benchmark,
    *,
    scenarios: Sequence[str],
    modes: Sequence[str],
    overrides: Mapping[str | None, Mapping[str, Any]],
    results_root: Path,
    compliance: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every scenario x mode, one harness process each; returns the result.json documents.

    With ``compliance`` tests (TEST01, TEST04), each scenario also runs the modes they compare
    with (performance; accuracy for TEST01), then each test into ``<scenario>/<TEST>/``.
    """
    unknown = [t for t in compliance if t not in COMPLIANCE_TESTS]
    if unknown:
        raise RunError(
            f"unknown compliance test {', '.join(unknown)}",
            hint=f"one of {', '.join(COMPLIANCE_TESTS)}",
        )
    tests = list(dict.fromkeys(compliance))
    needed = set(modes)
    if tests:
        needed.add("performance")
    if "TEST01" in tests:
        needed.add("accuracy")
    run_modes = list(dict.fromkeys(modes))
    run_modes += [m for m in ("performance", "accuracy") if m in needed and m not in run_modes]
    results = []
    for scenario in scenarios:
        settings = {
            **bench.settings_for(scenario),
            **overrides.get(None, {}),
            **overrides.get(scenario, {}),
        }
        for mode in run_modes:
            out = result_dir(results_root, section, bench, scenario, mode)
            project.reporter.info(f"running {bench.model} {scenario} {mode}")
            config = run_config(project, env, section, bench, scenario, mode, settings, out)
            results.append(run_harness(env, config, project))
        for test in tests:
            base = results_root / section.name / bench.model / scenario
            project.reporter.info(f"running {bench.model} {scenario} compliance {test}")
            config = run_config(
                project,
                env,
                section,
                bench,
                scenario,
                "performance",
                settings,
                base / test,
                compliance=test,
                reference_dir=base,
            )
            results.append(run_harness(env, config, project))
    return results
