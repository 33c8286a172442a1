"""Install benchmark, in one run, on a copy of an example (default: examples/digits):

(a) a no-op `mlenv install` of an up-to-date environment, end to end (`python -m mlenv`, with
    and without --frozen) and in-process (`materialize()` alone). Goal: under 0.2 s.
(b) a warm-store install (every wheel and artifact already in the store, uv's cache warm) into
    a fresh environment, versus `uv venv` + `uv pip sync --require-hashes` of the same pins
    alone into a fresh venv, as a ratio. Goal: at most 1.3x. Two baselines: uv from the very
    wheels of the store (`--no-index --find-links`), and uv from PyPI as a user runs it.

The store is MLENV_HOME (or --home); the first run fills it from PyPI (network once). Timings
are printed, never asserted. mlenv runs with byte-code caches allowed, as an installed mlenv
does (PYTHONDONTWRITEBYTECODE is dropped for the timed processes).

    python benchmarks/bench_install.py [--example examples/digits] [--home DIR] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchcli import mlenv  # the benchmarks' one way to run mlenv

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 48


def timed(
    fn: Callable[[], object], reps: int, before: Callable[[], object] | None = None
) -> list[float]:
    out = []
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def show(label: str, times: list[float]) -> float:
    med = statistics.median(times)
    print(f"{label:{WIDTH}} median {med:7.3f} s   min {min(times):7.3f} s   (n={len(times)})")
    return med


def line(label: str, text: str) -> None:
    print(f"{label:{WIDTH}} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "digits")
    parser.add_argument("--home", type=Path, help="MLENV_HOME (default: $MLENV_HOME or the cache)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-pypi", action="store_true", help="skip the PyPI baseline")
    a = parser.parse_args()

    from mlenv.paths import mlenv_home

    home = (a.home or mlenv_home(os.environ)).absolute()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["MLENV_HOME"] = str(home)
    with tempfile.TemporaryDirectory(prefix="mlenv-bench-") as tmp:
        project = Path(tmp, "project")
        project.mkdir()
        shutil.copy(a.example / "mlenv.yaml", project / "mlenv.yaml")
        if (a.example / "mlenv.lock").exists():
            shutil.copy(a.example / "mlenv.lock", project / "mlenv.lock")
        envs = project / ".mlenv" / "envs"
        print(f"example {a.example.name}, store {home}")
        t0 = time.perf_counter()
        mlenv(project, env, "install")  # resolves if needed; fills the store (network once)
        line("first install (fills the store if empty)", f"{time.perf_counter() - t0:7.3f} s")

        print("\n(a) no-op install of an up-to-date environment (goal < 0.2 s)")
        frozen = show(
            "mlenv install --frozen (end to end)",
            timed(lambda: mlenv(project, env, "install", "--frozen"), a.reps),
        )
        show(
            "mlenv install (end to end, staleness check)",
            timed(lambda: mlenv(project, env, "install"), a.reps),
        )
        show(
            "python -c pass (interpreter start-up)",
            timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), a.reps),
        )
        noop, digest, fresh = in_process(project, home, envs, a.reps)
        show("materialize() in-process", noop)
        show("  of which LockTarget.digest()", digest)

        print("\n(b) warm-store install into a fresh environment vs uv pip sync (goal <= 1.3x)")
        ours = show(
            "mlenv install --frozen (fresh env, warm store)",
            timed(
                lambda: mlenv(project, env, "install", "--frozen"),
                a.reps,
                before=lambda: shutil.rmtree(envs, ignore_errors=True),
            ),
        )
        show("materialize() in-process (fresh env)", fresh)
        local = show("uv venv + pip sync, the store's wheels", uv_baseline(project, home, a.reps))
        line("ratio mlenv / uv (same local wheels)", f"{ours / local:7.2f}x")
        line(
            "ratio materialize() / uv (same local wheels)",
            f"{statistics.median(fresh) / local:7.2f}x",
        )
        theirs = local
        if not a.no_pypi:
            theirs = show(
                "uv venv + pip sync, from PyPI (warm cache)",
                uv_baseline(project, home, a.reps, index=True),
            )
            line("ratio mlenv / uv (from PyPI)", f"{ours / theirs:7.2f}x")
        print("\nsummary")
        ratio = ours / theirs
        line(
            "no-op install (goal < 0.2 s)",
            f"{frozen:.3f} s: {'met' if frozen < 0.2 else 'NOT met'}",
        )
        line(
            "warm-store install (goal <= 1.3x)",
            f"{ratio:.2f}x of uv {'from PyPI' if not a.no_pypi else 'from local wheels'}: "
            f"{'met' if ratio <= 1.3 else 'NOT met'}",
        )


def in_process(
    project: Path, home: Path, envs: Path, reps: int
) -> tuple[list[float], list[float], list[float]]:
    """materialize() as `mlenv install` calls it: of the current environment (a no-op), and
    into a fresh environment folder (a warm-store build)."""
    from mlenv.cli.context import Context, Options
    from mlenv.cli.output import make_console
    from mlenv.envs.artifacts import ArtifactContext
    from mlenv.envs.download import FetchOptions
    from mlenv.envs.materialize import materialize
    from mlenv.envs.store import Store
    from mlenv.envs.venv import UvRunner
    from mlenv.paths import project_env_dir
    from mlenv.reporter import NullReporter

    ctx = Context(
        options=Options(manifest=project / "mlenv.yaml"),
        console=make_console(),
        environ={**os.environ, "MLENV_HOME": str(home)},
    )
    section = ctx.lock_section(ctx.lock(), None)
    actx = ArtifactContext(
        store=Store(ctx.home),
        project_dir=project,
        builtin_dir=ctx.builtin_dir,
        options=FetchOptions(),
        reporter=NullReporter(),
        environ=ctx.environ,
    )
    uv = UvRunner(uv=ctx.uv, cache_dir=ctx.uv_cache, environ=ctx.environ)
    env_dir = project_env_dir(project, section.name)

    def once(expect_build: bool) -> None:
        _, built = materialize(section, env_dir, python=ctx.python_for(section), uv=uv, ctx=actx)
        assert built == expect_build

    noop = timed(lambda: once(False), reps * 4)
    digest = timed(section.digest, reps * 4)
    fresh = timed(lambda: once(True), reps, before=lambda: shutil.rmtree(envs, ignore_errors=True))
    return noop, digest, fresh


def uv_baseline(project: Path, home: Path, reps: int, *, index: bool = False) -> list[float]:
    """`uv venv` + `uv pip sync --require-hashes` of the lock's pins into a fresh venv (a new
    path each time, as mlenv's build folder is), with the same warm uv cache: from a wheelhouse
    of the very store files (`index=False`), or from PyPI as a user would run it."""
    from uv import find_uv_bin

    from mlenv.envs.store import Store
    from mlenv.lock import load_lock

    section = next(iter(load_lock(project / "mlenv.lock").targets.values()))
    store = Store(home)
    work = project / "uv-baseline"
    house = work / "wheelhouse"
    if not house.exists():
        house.mkdir(parents=True)
        for pin in section.pypi:
            os.link(store.path(pin.sha256), house / pin.filename)
    req = work / "requirements.txt"
    req.write_text(
        "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in section.pypi)
    )
    uv = str(find_uv_bin())
    cache = str(home / "cache" / "uv")
    environ = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    source = [] if index else ["--no-index", "--find-links", str(house)]
    venvs = iter(work / f"venv-{i}-{index}" for i in range(reps + 1))

    def once() -> None:
        venv = next(venvs)
        venv_cmd = [uv, "venv", "--relocatable", "--quiet", "--python", sys.executable]
        subprocess.run([*venv_cmd, str(venv), "--cache-dir", cache], check=True, env=environ)
        python = str(venv / "bin" / "python")
        sync = [uv, "pip", "sync", str(req), "--python", python, *source, "--require-hashes"]
        subprocess.run([*sync, "--quiet", "--cache-dir", cache], check=True, env=environ)

    once()  # warm uv's cache for this wheelhouse (mlenv's first install warmed its own)
    return timed(once, reps)


if __name__ == "__main__":
    main()
