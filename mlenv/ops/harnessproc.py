"""The harness process: started in the env's interpreter, isolated, supervised by mlenv.

The env's interpreter, isolated (`-I`), sees only the env's packages plus a folder that holds
nothing but the harness package (`harness_path`). The harness guards itself against hangs (its
watchdog ends a test whose samples stop completing); here an interrupt stops the child before
mlenv exits, and the child dies with mlenv (BOOTSTRAP). While it runs, mlenv samples the
machine's energy meters (`mlenv.ops.energy`) and reaps it with its own resource usage
(`mlenv.ops.memory`): both measured outside the env (DESIGN principle 5).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlenv.envs.activation import activation
from mlenv.envs.materialize import Environment
from mlenv.errors import RunError, UsageError

from .energy import METERS_ENV, EnergySampler, Meter, default_meters
from .memory import wait_with_rusage
from .project import Project

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


def meters(project: Project) -> list[Meter]:
    """The readable energy meters `MLENV_ENERGY_METERS` selects (none readable: [])."""
    try:
        return default_meters(project.environ)
    except ValueError as e:
        raise UsageError(
            str(e),
            where=METERS_ENV,
            hint=f"set {METERS_ENV} to rapl, nvml, rapl,nvml or none (or unset it)",
        ) from e


def close_meters(sampler: EnergySampler) -> None:
    """Release what the meters hold (NVML's handle)."""
    for meter in sampler.meters:
        close = getattr(meter, "close", None)
        if callable(close):
            close()


def start(
    env: Environment,
    folder: Path,
    config: dict[str, Any],
    project: Project,
    sampler: EnergySampler | None = None,
) -> tuple[int, int | None]:
    """Run the harness on `config` in the env; its return code and peak RSS (bytes)."""
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
        return _supervise(cmd, child_env, sampler)


def _supervise(
    cmd: list[str], child_env: dict[str, str], sampler: EnergySampler | None = None
) -> tuple[int, int | None]:
    """Run the harness, `sampler` sampling the energy meters meanwhile; its return code and
    peak RSS. On an interrupt, stop it (SIGINT, then SIGKILL) before going on.

    The child stays in mlenv's process group, so a terminal's Ctrl-C reaches both; BOOTSTRAP
    makes it die with mlenv should mlenv itself be killed. Call it from the main thread: Linux's
    parent-death signal fires when the thread that started the child ends (a Ray node's actor
    calls it from its process's main thread too: `explore/ray_node.py`).
    """
    sampling: contextlib.AbstractContextManager[object] = (
        sampler if sampler is not None else contextlib.nullcontext()
    )
    with sampling:
        proc = subprocess.Popen(cmd, env=child_env, stdin=subprocess.DEVNULL, stdout=_stderr_fd())
        try:
            return wait_with_rusage(proc)
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
