"""The coordinator: materialize one lock section into `.mlenv/envs/<target>/`, atomically.

Only the backends (venv, artifacts) write inside the build folder; this module decides the
order, builds in a temporary sibling folder and renames it into place, so an interrupted or
failed install leaves nothing half-made (leftovers of killed builds are swept next time).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv import __version__
from mlenv.errors import InstallError
from mlenv.lock import LockTarget

from .artifacts import (
    ArtifactContext,
    Changed,
    check_placed,
    local_folder,
    place_artifact,
    placed_file,
    placement,
    verify_placed,
)
from .detect import Detects, system_drift
from .prefetch import prefetch
from .record import verify_records
from .store import Store, env_lock_key, process_alive
from .venv import UvRunner, build_venv, venv_python

ENV_FILE = "env.json"
# how each artifact was placed (reflink/hardlink/copy) and the stat of its files: this machine's
# state, beside env.json (which describes the environment and travels in bundles)
PLACED_FILE = "placed.json"


@dataclass(frozen=True, kw_only=True)
class Environment:
    path: Path
    target: str
    info: dict[str, Any]

    @property
    def python(self) -> Path:
        return venv_python(self.path / "venv")

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    def artifact(self, package: str) -> list[Path]:
        return [
            placed_file(self.artifacts, v)
            for k, v in sorted(self.info["artifacts"].items())
            if k.split("/", 1)[0] == package
        ]


def read_env(env_dir: Path) -> Environment | None:
    try:
        info = json.loads((env_dir / ENV_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Environment(path=env_dir, target=str(info.get("target", env_dir.name)), info=info)


def is_current(env_dir: Path, section: LockTarget) -> Environment | None:
    env = read_env(env_dir)
    if env is not None and env.info.get("lock") == section.digest() and env.python.exists():
        return env
    return None


def _sweep(parent: Path, name: str) -> None:
    """Remove build folders left by killed installs (their process is gone)."""
    for leftover in parent.glob(f".{name}.tmp-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and process_alive(int(pid)):
            continue
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(parent / f".{name}.old", ignore_errors=True)


def materialize(
    section: LockTarget,
    env_dir: Path,
    *,
    python: str,
    uv: UvRunner,
    ctx: ArtifactContext,
    force: bool = False,
    allow_drift: bool = False,
    detects: Detects | None = None,
) -> tuple[Environment, bool]:
    """Returns the environment and whether it was (re)built. `detects`: the `detect:` sources
    of the user's own recipes, by name, that re-detect the lock's system tools."""
    if not force and (env := is_current(env_dir, section)) is not None:
        return env, False
    parent = env_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    key = env_lock_key(env_dir)
    with ctx.store.lock(key):  # one build per env folder at a time; others wait, then reuse
        if not force and (env := is_current(env_dir, section)) is not None:
            return env, False
        _sweep(parent, env_dir.name)
        build = parent / f".{env_dir.name}.tmp-{os.getpid()}"
        try:
            info = _build(
                section,
                build,
                python=python,
                uv=uv,
                ctx=ctx,
                allow_drift=allow_drift,
                final=env_dir,
                detects=detects or {},
            )
            _swap(build, env_dir)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    ctx.reporter.info(f"environment ready: {env_dir}")
    return Environment(path=env_dir, target=section.name, info=info), True


def _build(
    section: LockTarget,
    build: Path,
    *,
    python: str,
    uv: UvRunner,
    ctx: ArtifactContext,
    allow_drift: bool,
    final: Path,
    detects: Detects,
) -> dict[str, Any]:
    for pin in section.artifacts:  # data the user must supply: say so before any work
        if pin.local_env:
            local_folder(pin, ctx.environ)
    drift = system_drift(section.system, ctx.environ.get("PATH"), detects)
    if drift and not allow_drift:
        raise InstallError(
            f"{len(drift)} system tool(s) differ from the lock",
            why="\n".join(drift),
            hint="install the locked versions, re-resolve on this machine, or pass --allow-drift "
            "to install anyway (recorded in env.json)",
        )
    for line in drift:
        ctx.reporter.warn(line)
    build.mkdir(parents=True)
    scratch = build / ".scratch"
    prefetch(section, ctx)  # wheels and files, several downloads at a time
    build_venv(
        section.pypi,
        build / "venv",
        python=python,
        store=ctx.store,
        uv=uv,
        options=ctx.options,
        reporter=ctx.reporter,
        scratch=scratch,
    )
    artifacts: dict[str, Any] = {}
    kinds: dict[str, set[str]] = {}
    for pin in sorted(section.artifacts, key=lambda a: (a.package, a.name)):
        ctx.reporter.info(f"placing {pin.package}: {pin.name}")
        key = f"{pin.package}/{pin.name}"
        kinds[key] = set()
        artifacts[key] = place_artifact(pin, build / "artifacts", ctx, kinds=kinds[key])
    if section.conda:
        from .conda import build_conda  # py-rattler: imported only when there is conda work

        build_conda(
            section.conda,
            build / "conda",
            store=ctx.store,
            options=ctx.options,
            reporter=ctx.reporter,
            project_dir=ctx.project_dir,
            cache_dir=ctx.store.home / "cache" / "rattler" / "pkgs",
            final_prefix=final / "conda",
        )
    shutil.rmtree(scratch, ignore_errors=True)
    placed = {  # taken last: linking the same object again changes an earlier link's ctime
        key: placement(build / "artifacts", recorded, kinds[key])
        for key, recorded in artifacts.items()
        if "local" not in recorded
    }
    info = {
        "version": 1,
        "target": section.name,
        "lock": section.digest(),
        "mlenv": __version__,
        "python": python,
        "pypi": {p.name: {"version": p.version, "sha256": p.sha256} for p in section.runtime_pypi},
        "conda": {
            c.name: {"version": c.version, "build": c.build, "sha256": c.sha256}
            for c in section.conda
        },
        "artifacts": artifacts,
        "system": {s.name: s.version for s in section.system},
        "drift": drift,
    }
    _write_json(build / PLACED_FILE, {"version": 1, "artifacts": placed})
    _write_json(build / ENV_FILE, info)
    return info


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_placed(env_dir: Path) -> dict[str, Any]:
    """placed.json's artifacts (empty when missing or unreadable: every file is then hashed)."""
    try:
        doc = json.loads((env_dir / PLACED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    placed = doc.get("artifacts") if isinstance(doc, dict) else None
    return placed if isinstance(placed, dict) else {}


def check_env(
    env: Environment,
    section: LockTarget,
    *,
    full: bool = False,
    store: Store | None = None,
) -> list[Changed]:
    """The placed artifact files whose bytes are not the lock's (before a run uses them): a
    stat check against placed.json, hashing only what moved; `full` hashes everything. Files
    whose stat moved but whose bytes are right get their stat recorded anew."""
    locked = {  # an extracted tree is checked against the digest its install computed
        f"{p.package}/{p.name}": h
        for p in section.artifacts
        if not p.extract and (h := p.member_sha256 or p.sha256)
    }
    changes, fresh = check_placed(
        env.artifacts,
        env.info.get("artifacts", {}),
        placed := read_placed(env.path),
        full=full,
        store=store,
        locked=locked,
    )
    if fresh and not changes:
        with contextlib.suppress(OSError):  # a read-only project: the check just costs more
            _write_json(env.path / PLACED_FILE, {"version": 1, "artifacts": {**placed, **fresh}})
    return changes


def _swap(build: Path, env_dir: Path) -> None:
    old = env_dir.parent / f".{env_dir.name}.old"
    if env_dir.exists():
        os.replace(env_dir, old)
    os.replace(build, env_dir)
    shutil.rmtree(old, ignore_errors=True)


def installed_distributions(env: Environment) -> dict[str, str]:
    """name -> version of every distribution in the venv (from its dist-info folders)."""
    out: dict[str, str] = {}
    for meta in (env.path / "venv").glob("lib*/python*/site-packages/*.dist-info/METADATA"):
        name = version = None
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Name: "):
                name = line[6:].strip()
            elif line.startswith("Version: "):
                version = line[9:].strip()
            elif not line:
                break
        if name and version:
            out[name.lower().replace("_", "-").replace(".", "-")] = version
    return out


def verify_conda(section: LockTarget, prefix: Path) -> list[str]:
    """Differences between the conda prefix's records (conda-meta) and the lock's."""
    installed: dict[str, dict[str, Any]] = {}
    for meta in sorted(prefix.glob("conda-meta/*.json")):
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "name" in record:
            installed[str(record["name"])] = record
    out = []
    for pin in section.conda:
        have = installed.pop(pin.name, None)
        if have is None:
            out.append(f"conda {pin.name} {pin.version}: missing")
        elif (have.get("version"), have.get("build")) != (pin.version, pin.build):
            out.append(
                f"conda {pin.name}: {have.get('version')} ({have.get('build')}) installed, "
                f"lock pins {pin.version} ({pin.build})"
            )
        elif have.get("sha256") and have.get("sha256") != pin.sha256:
            out.append(f"conda {pin.name}: installed from other bytes than the lock pins")
    out.extend(f"conda {name}: not in the lock" for name in sorted(installed))
    return out


def verify_env(
    section: LockTarget,
    env_dir: Path,
    path: str | None = None,
    store: Store | None = None,
    detects: Detects | None = None,
) -> list[str]:
    """Every difference between the environment and the lock section."""
    env = read_env(env_dir)
    if env is None:
        return [f"no environment at {env_dir} (run `mlenv install`)"]
    out = []
    if env.info.get("lock") != section.digest():
        out.append("the environment was built from another lock (run `mlenv install`)")
    installed = installed_distributions(env)
    for pin in section.runtime_pypi:  # build pins are not in the env
        key = pin.name.lower().replace("_", "-").replace(".", "-")
        have = installed.pop(key, None)
        if have is None:
            out.append(f"pypi {pin.name} {pin.version}: missing")
        elif have != pin.version:
            out.append(f"pypi {pin.name}: {have} installed, lock pins {pin.version}")
    out.extend(f"pypi {name} {v}: not in the lock" for name, v in sorted(installed.items()))
    out.extend(verify_records(env.path / "venv"))
    out.extend(verify_conda(section, env.path / "conda"))
    out.extend(verify_placed(env.artifacts, env.info.get("artifacts", {}), store))
    out.extend(system_drift(section.system, path, detects or {}))
    return out
