"""The Ray executor (CONTRACTS §16): the points of a sweep measured on the nodes of an existing
Ray cluster, one point per node at a time, each on a node labelled `mlenv.io/target=<target>`.

The driver (this process) resolves every point, as the local executor does; a node resolves
nothing. Each live labelled node gets one actor (`NodeWorker`, `max_concurrency=1`, pinned to
the node): mlenv, not Ray's resources, keeps one measurement per node. A point's task gets its
folder (manifest, lock, recipe copies) as a tar, installs the lock section into the node's own
store (`MLENV_HOME` of the node) and measures with the environment's own interpreter (the
benchmark environment needs no Ray); it returns the result documents and LoadGen logs, which
the driver records through the same `Sink` as the local executor: only the driver writes the
results database, so nodes need no database access and a dying node leaves nothing
half-written. Ray is imported only here, and only when this executor is used.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import tarfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError, UsageError
from mlenv.ops import explore as op
from mlenv.ops.project import Project

from .local import Job, Sink
from .ray_node import NodeWorker

LABEL = "mlenv.io/target"
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
MAX_BUNDLE = 512 * 1024 * 1024  # a point's folder sent to a node
SKIPPED_PARTS = (".mlenv", "results")  # what of a point's folder is never sent


class ClusterError(MlenvError):
    """The Ray cluster cannot be reached or used."""

    kind = "cluster"


@dataclass(slots=True)
class _Worker:
    node: str  # the Ray node id (hex)
    target: str
    cpus: int
    gpus: int
    actor: Any = None
    busy: bool = False


@dataclass(slots=True)
class _Running:
    worker: _Worker
    job: Job
    lock: str
    deadline: float


@dataclass(slots=True)
class _Queues:
    by_target: dict[str, deque[tuple[Job, str]]] = field(default_factory=dict)

    def add(self, target: str, job: Job, lock: str) -> None:
        self.by_target.setdefault(target, deque()).append((job, lock))

    def __bool__(self) -> bool:
        return any(self.by_target.values())


class RayExecutor:
    """Runs each job on a node of the Ray cluster at `address` whose label is its target."""

    name = "ray"

    def __init__(
        self,
        base: Project,
        address: str | None,
        *,
        connect_timeout: float = 60.0,
        point_timeout: float = 6 * 3600.0,
    ) -> None:
        self.base = base
        self.address = address or base.environ.get("RAY_ADDRESS") or None
        self.connect_timeout = connect_timeout
        self.point_timeout = point_timeout
        self._ray: Any = None
        self._started = False
        self._workers: list[_Worker] = []

    # -- the Executor interface ---------------------------------------------------------------

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        ray = self._open()
        queues = _Queues()
        for job in jobs:
            self._prepare(job, sink, queues)
        try:
            self._dispatch(ray, queues, sink)
        except BaseException:  # Ctrl-C: the points in flight are stopped with their workers
            self._stop_workers(ray)  # and their harnesses with them (NodeWorker); none recorded
            raise

    def run_one(self, job: Job, sink: Sink) -> None:
        self.run([job], sink)

    def close(self) -> None:
        """Disconnect from the cluster (when this executor connected)."""
        if self._ray is not None:
            self._stop_workers(self._ray)
            if self._started:
                self._ray.shutdown()
        self._ray, self._started = None, False

    # -- connecting ---------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._ray is None:
            self._ray, self._started = connect(
                self.address, self.base.environ, timeout=self.connect_timeout
            )
        if not self._workers:
            self._workers = self._start_workers(self._ray)
        return self._ray

    def _start_workers(self, ray: Any) -> list[_Worker]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(NodeWorker)
        workers = live_workers(ray.nodes())
        for w in workers:
            w.actor = remote.options(
                num_cpus=0,
                max_concurrency=1,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(w.node, soft=False),
            ).remote()
        ready = {w.node: w.actor.ready.remote() for w in workers}
        deadline = time.monotonic() + self.connect_timeout
        kept = []
        for w in workers:
            try:
                ray.get(ready[w.node], timeout=max(deadline - time.monotonic(), 1.0))
                kept.append(w)
            except Exception as e:  # a node that cannot start the worker: left out, said so
                self.base.reporter.warn(f"Ray node {w.node[:12]} ({w.target}) left out: {e}")
                ray.kill(w.actor, no_restart=True)
        targets = sorted({w.target for w in kept})
        self.base.reporter.info(
            f"Ray: {len(kept)} labelled node(s) ({', '.join(targets) or 'none'})"
        )
        return kept

    def _stop_workers(self, ray: Any) -> None:
        for w in self._workers:
            _kill(ray, w.actor)
        self._workers = []

    # -- the points ---------------------------------------------------------------------------

    def _prepare(self, job: Job, sink: Sink, queues: _Queues) -> None:
        """Resolve the point here; queue it for a node of its target, or fail it at once."""
        sink.starting(job)
        try:
            prepared = op.prepare(self.base, job.request)
        except op.PointFailure as failure:
            _fail(sink, job, failure, None)
            return
        sink.prepared(job, prepared)
        target = prepared.section.name
        if not any(w.target == target for w in self._workers):
            _fail(sink, job, no_node(target, self._workers), prepared.lock_digest)
            return
        queues.add(target, job, prepared.lock_digest)

    def _dispatch(self, ray: Any, queues: _Queues, sink: Sink) -> None:
        running: dict[Any, _Running] = {}
        while queues or running:
            self._submit(queues, running)
            if not running:  # points left whose nodes are all gone
                for target, queue in queues.by_target.items():
                    while queue:
                        job, lock = queue.popleft()
                        _fail(sink, job, no_node(target, self._workers), lock)
                break
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in done:
                self._collect(ray, ref, running.pop(ref), sink)
            now = time.monotonic()
            for ref in [r for r, item in running.items() if item.deadline < now]:
                item = running.pop(ref)
                self._lose(ray, item.worker)
                failure = _failure(
                    "run",
                    f"the point took longer than {self.point_timeout:.0f} s on Ray node "
                    f"{item.worker.node[:12]}",
                    hint="its worker was stopped; `mlenv explore --retry-failed` tries again",
                )
                _fail(sink, item.job, failure, item.lock)

    def _submit(self, queues: _Queues, running: dict[Any, _Running]) -> None:
        for w in self._workers:
            queue = queues.by_target.get(w.target)
            if w.busy or not queue:
                continue
            job, lock = queue.popleft()
            ref = w.actor.measure.remote(self._payload(job, w))
            w.busy = True
            running[ref] = _Running(
                worker=w, job=job, lock=lock, deadline=time.monotonic() + self.point_timeout
            )
            self.base.reporter.info(
                f"point {job.point.short} → Ray node {w.node[:12]} ({w.target})"
            )

    def _payload(self, job: Job, worker: _Worker) -> dict[str, Any]:
        request = job.request
        return {
            "point": job.point.id,
            "bundle": bundle(request.manifest_path.parent),
            "target": worker.target,
            "measurements": [list(m) for m in request.measurements],
            "skip": [list(m) for m in job.skip],
            "options": dict(request.options),
            "environ": point_environ(worker),
            "offline": self.base.offline,
        }

    def _collect(self, ray: Any, ref: Any, item: _Running, sink: Sink) -> None:
        worker, job = item.worker, item.job
        worker.busy = False
        try:
            out = ray.get(ref, timeout=60.0)
        except Exception as e:  # the node or its worker died, or the object was lost
            self._lose(ray, worker)
            failure = _failure(
                "run",
                f"Ray node {worker.node[:12]} ({worker.target}) was lost during the point: "
                f"{type(e).__name__}",
                why=str(e).splitlines()[0] if str(e) else None,
                hint="`mlenv explore --retry-failed` measures it again",
            )
            _fail(sink, job, failure, item.lock)
            return
        if not out.get("ok"):
            error = out.get("error") or {}
            failure = op.PointFailure(
                str(out.get("stage", "run")),
                MlenvError(
                    str(error.get("message", "failed on the Ray node")),
                    where=error.get("where"),
                    why=error.get("why"),
                    hint=error.get("hint"),
                ),
            )
            _fail(sink, job, failure, item.lock)
            return
        node = str(out.get("node") or worker.node)
        about = {"name": "ray", "node": node, "labels": {LABEL: worker.target}}
        for run in out.get("runs", ()):
            document = {**run["result"], "executor": about}
            measured = op.Measured(
                scenario=run["scenario"],
                mode=run["mode"],
                result=document,
                logs=dict(run["logs"]),
                invalid=bool(run["invalid"]),
            )
            sink.measured(job, measured)
        sink.finished(job, True, len(out.get("runs", ())))

    def _lose(self, ray: Any, worker: _Worker) -> None:
        """A worker gone (its node died, or it was stopped): no more points go to it."""
        _kill(ray, worker.actor)
        self._workers = [w for w in self._workers if w is not worker]


def _kill(ray: Any, actor: Any) -> None:
    with contextlib.suppress(Exception):  # already gone with its node
        ray.kill(actor, no_restart=True)


def _fail(sink: Sink, job: Job, failure: op.PointFailure, lock: str | None) -> None:
    sink.failed(job, failure, lock)
    sink.finished(job, False, 0)


def _failure(stage: str, message: str, **more: Any) -> op.PointFailure:
    return op.PointFailure(stage, MlenvError(message, **more))


def no_node(target: str, workers: Sequence[_Worker]) -> op.PointFailure:
    have = sorted({w.target for w in workers})
    return _failure(
        "run",
        f"no live Ray node is labelled {LABEL}={target}",
        why="live labelled nodes with a working mlenv worker: "
        + (", ".join(have) if have else "none"),
        hint=f"start a node with `ray start --address ADDR --labels {LABEL}={target}`, "
        "then `mlenv explore --retry-failed`",
    )


# -- the driver's side ------------------------------------------------------------------------


def connect(address: str | None, environ: Mapping[str, str], *, timeout: float) -> tuple[Any, bool]:
    """Ray, connected to the cluster at `address` (within `timeout` seconds); whether this
    call connected it. Never starts a cluster: an address is required."""
    local = bool(address) and _host(str(address)) in ("127.0.0.1", "localhost", "::1")
    if local:  # else Ray swaps 127.0.0.1 for a routable address (read when Ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as e:
        raise UsageError(
            "--executor ray needs Ray, which is not installed",
            why=str(e),
            hint="pip install 'mlenv[ray]'",
        ) from e
    if ray.is_initialized():
        return ray, False
    if not address:
        raise UsageError(
            "--executor ray needs the address of a running Ray cluster",
            why="mlenv never starts a Ray cluster itself",
            hint="pass --ray-address HOST:PORT (or set RAY_ADDRESS); "
            "start one with `ray start --head --node-ip-address 127.0.0.1`",
        )
    _probe(address, timeout)
    for name in AUTH_VARIABLES:  # Ray reads its token from the process environment
        if environ.get(name) and not os.environ.get(name):
            os.environ[name] = environ[name]
    box: dict[str, BaseException | bool] = {}
    extra: dict[str, Any] = {"_node_ip_address": "127.0.0.1"} if local else {}

    def init() -> None:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, **extra)
            box["ok"] = True
        except BaseException as e:  # handed to the caller
            box["error"] = e

    thread = threading.Thread(target=init, name="ray-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive() or "error" in box:
        error = box.get("error")
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address}"
            + (f": {str(error).splitlines()[0]}" if error else f" within {timeout:.0f} s"),
            where="--ray-address",
            why=None
            if error
            else "it answers but the connection does not complete: a cluster with token "
            "authentication (on by default) hangs a driver that lacks the token",
            hint="set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the cluster's token; "
            "`ray status --address ADDR` checks the address",
        )
    return ray, True


def _host(address: str) -> str:
    return address.removeprefix("ray://").rpartition(":")[0].strip("[]")


def _probe(address: str, timeout: float) -> None:
    """A quick TCP check that something listens at HOST:PORT (`auto` is left to Ray)."""
    text = address.removeprefix("ray://")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        if address == "auto":
            return
        raise UsageError(
            f"--ray-address {address!r} is not HOST:PORT",
            where="--ray-address",
            hint="e.g. --ray-address 127.0.0.1:6379 (the head's GCS address)",
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10.0)):
            pass
    except OSError as e:
        raise ClusterError(
            f"no Ray cluster answers at {address}",
            where="--ray-address",
            why=e.strerror or str(e),
            hint="start its head with `ray start --head --node-ip-address 127.0.0.1` "
            "(or give the right address)",
        ) from e


def live_workers(nodes: Sequence[Mapping[str, Any]]) -> list[_Worker]:
    """One worker per live node that carries the target label, from `ray.nodes()`."""
    out = []
    for node in nodes:
        labels = node.get("Labels") or {}
        if not node.get("Alive") or LABEL not in labels:
            continue
        resources = node.get("Resources") or {}
        out.append(
            _Worker(
                node=str(node["NodeID"]),
                target=str(labels[LABEL]),
                cpus=max(int(resources.get("CPU", 1) or 1), 1),
                gpus=int(resources.get("GPU", 0) or 0),
            )
        )
    return sorted(out, key=lambda w: (w.target, w.node))


def point_environ(worker: _Worker) -> dict[str, str]:
    """OMP_NUM_THREADS and CUDA_VISIBLE_DEVICES of a point, set explicitly (Ray would set
    the first from the task's CPUs, and leaves the second as the node has it)."""
    devices = ",".join(str(i) for i in range(worker.gpus))
    return {"OMP_NUM_THREADS": str(worker.cpus), "CUDA_VISIBLE_DEVICES": devices}


def bundle(folder: Path) -> bytes:
    """The point's folder as a tar (its manifest, lock and recipe copies; never its envs or
    results), at most MAX_BUNDLE bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if rel.parts[0] in SKIPPED_PARTS or not path.is_file() or path.is_symlink():
                continue
            tar.add(path, arcname=rel.as_posix(), recursive=False)
            if buffer.tell() > MAX_BUNDLE:
                raise UsageError(
                    f"the point folder {folder} is larger than {MAX_BUNDLE >> 20} MiB",
                    hint="keep large data out of the recipe folders the points copy "
                    "(an artifact with a URL is fetched by each node)",
                )
    return buffer.getvalue()
