"""The node's side of the Ray executor (`explore/ray_executor.py`): the actor each labelled
node runs, which unpacks a point's folder under the node's `MLENV_HOME`, installs its lock
section (frozen: nothing is resolved on a node) and measures it, sending back the result
documents and LoadGen logs (bounded). Imports Ray only inside the actor's methods."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlenv.ops import explore as op
from mlenv.ops.project import Project

MAX_LOG = 64 * 1024 * 1024  # one LoadGen log sent back (larger ones are cut, and say so)


class NodeWorker:
    """The actor on one node (created by the driver, one per node, one call at a time).

    A synchronous actor with `max_concurrency=1` runs each call on its process's main thread,
    the thread that starts the harness: the harness's parent-death signal (PR_SET_PDEATHSIG,
    `mlenv.ops.harnessproc.BOOTSTRAP`) follows that thread, so a killed actor (`ray.kill`, the
    driver's Ctrl-C, SIGKILL, its node gone) takes its harness with it and no measurement runs
    on unseen (tests/explore/test_explore_ray.py). Ray's own clean-up of a dead worker's
    process group comes on top of it."""

    def ready(self) -> str:
        return os.uname().nodename

    def measure(self, payload: dict[str, Any]) -> dict[str, Any]:
        import ray

        out = measure_here(payload, dict(os.environ))
        return {**out, "node": ray.get_runtime_context().get_node_id()}  # where it really ran


def measure_here(payload: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Install and measure one point on this node: its folder unpacked under the node's
    `MLENV_HOME/ray/points/<id>/`, its environment in `MLENV_HOME/ray/envs/` (no resolve)."""
    from mlenv.paths import mlenv_home

    env = {**environ, **payload["environ"]}
    home = mlenv_home(env)
    folder = home / "ray" / "points" / str(payload["point"])
    try:
        unpack(payload["bundle"], folder)
    except (OSError, tarfile.TarError) as e:
        return {"ok": False, "stage": "install", "error": {"message": f"unpack: {e}"}}
    project = Project(
        manifest_path=folder / "mlenv.yaml", environ=env, offline=bool(payload["offline"])
    )
    request = op.PointRequest(
        manifest_path=folder / "mlenv.yaml",
        envs_root=home / "ray" / "envs",
        target=str(payload["target"]),
        measurements=tuple((s, m) for s, m in payload["measurements"]),
        options=dict(payload["options"]),
        frozen=True,
    )
    runs: list[dict[str, Any]] = []
    try:
        prepared = op.prepare(project, request)
        op.install(prepared)
        op.measure(
            prepared,
            request,
            skip=tuple((s, m) for s, m in payload["skip"]),
            measured=lambda m: runs.append(_sent(m)),
        )
    except op.PointFailure as failure:
        return {"ok": False, "stage": failure.stage, "error": failure.error.to_dict()}
    return {"ok": True, "runs": runs}


def _sent(measured: op.Measured) -> dict[str, Any]:
    logs: dict[str, bytes] = {}
    for name, item in measured.logs.items():
        data = item if isinstance(item, bytes) else Path(item).read_bytes()
        if len(data) > MAX_LOG:
            data = data[:MAX_LOG] + b"\n[cut by mlenv: the log was larger than 64 MiB]\n"
        logs[name] = data
    return {
        "scenario": measured.scenario,
        "mode": measured.mode,
        "result": measured.result,
        "logs": logs,
        "invalid": measured.invalid,
    }


def unpack(data: bytes, folder: Path) -> None:
    """The point's tar into `folder` (plain files only, never outside it)."""
    for name in ("mlenv.yaml", "mlenv.lock", "point.json"):
        (folder / name).unlink(missing_ok=True)
    for child in folder.glob("recipes*"):
        shutil.rmtree(child, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(folder, filter="data")
