"""`mlenv explore --executor ray` on a real local Ray cluster on 127.0.0.1: a head with no CPUs
(no point runs there) and worker nodes labelled `mlenv.io/target=…`, each with its own
MLENV_HOME. A sweep over two targets (the host's and a second target file bound to this
machine) runs each point on a node with its label and records every run once; a node removed
mid-sweep gives failed points that `--retry-failed` measures again; PostgreSQL as the one
results database; a point whose target no node carries fails at once. Ctrl-C of the driver
mid-point exits 130 and leaves no harness running on the node and only whole runs recorded; an
actor SIGKILLed takes its harness with it (the parent-death signal, also outside Ray's own
clean-up); a resumed sweep finishes the rest."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlperf_loadgen")
pytest.importorskip("sqlalchemy")
# read when Ray is imported: else Ray swaps 127.0.0.1 for this machine's routable address
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
pytest.importorskip("ray")

from runproject import SWEEP_BASE, nullrun_project

from mlenv.explore import explore
from mlenv.host import detect_host
from mlenv.resultsdb import ResultsDB

LABEL = "mlenv.io/target"
SECOND = "second-cpu"
ABSENT = "absent-cpu"  # a target file no node is labelled with
SWEEP = """
name: NAME
axes:
  target: TARGETS
  benchmark.threads: [1, 2]
scenarios: [Offline]
modes: [performance]
"""


def other_target(env: dict[str, str], name: str) -> str:
    """A target file with this machine's facts under another name."""
    host = detect_host(env)
    return f"""
    name: {name}
    os: linux
    arch: {host.arch}
    libc: {{glibc: "2.28"}}
    python: "{host.python}"
    accelerator: none
    pypi-platform: {host.arch}-manylinux_2_28
    conda-platform: linux-64
    """


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with nullrun_project(tmp_path_factory.mktemp("ray")) as written:
        written.write("mlenv.yaml", SWEEP_BASE)
        for name in (SECOND, ABSENT):
            written.write(f"recipes/targets/{name}.yaml", other_target(written.environ(), name))
        yield written


@pytest.fixture(scope="module")
def nodes_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nodes")


@pytest.fixture(scope="module")
def two_cluster(project: Any, nodes_home: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """The cluster of the host's target and SECOND (node id -> its label)."""
    host = host_target(project)
    with cluster(project, nodes_home, [host, SECOND]) as (made, nodes):
        yield made, {n.node_id: t for n, t in zip(nodes, [host, SECOND], strict=True)}


@pytest.fixture(scope="module")
def two_nodes(two_cluster: tuple[Any, dict[str, str]]) -> str:
    return str(two_cluster[0].address)


def host_target(project: Any) -> str:
    """The lock target `host` resolves to here (the label its points need)."""
    from mlenv.ops.project import Project

    return Project(manifest_path=project.root / "mlenv.yaml", environ=project.environ()).host.name


@contextmanager
def cluster(project: Any, tmp: Path, targets: list[str]) -> Iterator[tuple[Any, list[Any]]]:
    """A head (0 CPUs) and one 1-CPU worker node per target, all on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    made = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1"},
    )
    try:
        nodes = [add_node(made, project, tmp, target, i) for i, target in enumerate(targets)]
        made.wait_for_nodes()
        yield made, nodes
    finally:
        made.shutdown()


def add_node(made: Any, project: Any, tmp: Path, target: str, i: int) -> Any:
    env = {**project.environ(), "MLENV_HOME": str(tmp / f"node{i}-home")}
    return made.add_node(
        num_cpus=1, labels={LABEL: target}, node_ip_address="127.0.0.1", env_vars=env
    )


def write_sweep(project: Any, name: str, targets: list[str]) -> Path:
    text = SWEEP.replace("NAME", name).replace("TARGETS", "[" + ", ".join(targets) + "]")
    return project.write(f"{name}.yaml", text)


def test_points_run_on_the_nodes_of_their_targets(
    project: Any, two_cluster: Any, nodes_home: Path, tmp_path: Path
) -> None:
    host = host_target(project)
    made, ids = two_cluster
    path = write_sweep(project, "two", ["host", SECOND])
    url = f"sqlite:///{tmp_path / 'two.db'}"
    env = project.environ()
    result = explore(path, results=url, executor="ray", ray_address=made.address, environ=env)
    assert result.count("ok") == 4, result.to_dict()
    again = explore(path, results=url, executor="ray", ray_address=made.address, environ=env)
    assert again.count("skipped") == 4
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep="two")
    assert len(rows) == 4 and {r.status for r in rows} == {"ok"}
    assert Counter(r.point_id for r in rows) == Counter({p.id: 1 for p in result.points})
    for row in rows:
        executor = row.document["executor"]
        assert executor["name"] == "ray"
        assert ids[executor["node"]] == executor["labels"][LABEL] == row.target
    assert {r.target for r in rows} == {host, SECOND}
    # each node installed into its own MLENV_HOME; the driver's has no Ray environments
    for i in range(2):
        assert (nodes_home / f"node{i}-home" / "ray" / "envs").is_dir()


def test_a_node_lost_mid_sweep_and_retry_failed(project: Any, tmp_path: Path) -> None:
    host = host_target(project)
    path = project.write(
        "lost.yaml",
        "name: lost\naxes:\n  benchmark.threads: [1, 2, 3, 4]\n"
        "scenarios: [Offline]\nmodes: [performance, accuracy]\n",
    )
    url = f"sqlite:///{tmp_path / 'lost.db'}"
    with cluster(project, tmp_path, [host]) as (made, nodes):
        box: dict[str, Any] = {}

        def sweep() -> None:
            box["result"] = explore(
                path,
                results=url,
                executor="ray",
                ray_address=made.address,
                environ=project.environ(),
            )

        thread = threading.Thread(target=sweep, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while count_ok(url) < 1 and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.05)
        made.remove_node(nodes[0])
        thread.join(120)
        first = box["result"]
        assert first.count("failed") >= 1, first.to_dict()
        add_node(made, project, tmp_path, host, 1)
        made.wait_for_nodes()
        retried = explore(
            path,
            results=url,
            executor="ray",
            ray_address=made.address,
            environ=project.environ(),
            retry_failed=True,
        )
    assert retried.count("failed") == 0, retried.to_dict()
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep="lost")
    ok = Counter((r.point_id, r.scenario, r.mode) for r in rows if r.status == "ok")
    assert len(ok) == 8 and set(ok.values()) == {1}  # 4 points x 2 modes, each once


def count_ok(url: str) -> int:
    try:
        with ResultsDB.open(url) as db:
            return sum(1 for r in db.runs() if r.status == "ok")
    except Exception:  # the database is being created
        return 0


def test_into_postgresql_and_a_point_without_a_node(
    project: Any, two_nodes: Any, postgres: Any
) -> None:
    """PostgreSQL as the one database; the points of a target no node carries fail at once."""
    url = postgres.database()
    path = write_sweep(project, "teamray", ["host", ABSENT])
    started = time.monotonic()
    result = explore(
        path, results=url, executor="ray", ray_address=two_nodes, environ=project.environ()
    )
    assert (result.count("ok"), result.count("failed")) == (2, 2), result.to_dict()
    failed = [p for p in result.points if p.status == "failed"]
    assert all(f"no live Ray node is labelled {LABEL}={ABSENT}" in str(p.error) for p in failed)
    assert time.monotonic() - started < 120
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep="teamray")
    assert Counter(r.status for r in rows) == {"ok": 2, "failed": 2}
    assert {r.document["executor"]["name"] for r in rows if r.status == "ok"} == {"ray"}


def test_no_address_is_a_clear_error(project: Any) -> None:
    from mlenv.errors import MlenvError

    path = write_sweep(project, "noaddr", ["host"])
    env = {k: v for k, v in project.environ().items() if k != "RAY_ADDRESS"}
    with pytest.raises(MlenvError, match="needs the address"):
        explore(path, executor="ray", environ=env)
    with pytest.raises(MlenvError, match="no Ray cluster answers"):
        explore(path, executor="ray", ray_address="127.0.0.1:1", environ=env)


def test_the_local_executor_imports_no_ray() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlenv.explore, mlenv.explore.local, mlenv.explore.executor, mlenv.cli.main;"
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# a point of a few seconds: Server at 100 queries/s for 4 s (the null backend answers at once)
SLOW_BASE = SWEEP_BASE.replace(
    "settings: {min_duration: 100, min_query_count: 16, target_qps: 500}",
    "settings: {min_duration: 4000, min_query_count: 16, target_qps: 100}",
)
SLOW_SWEEP = """
name: NAME
base: NAME-base.yaml
axes:
  benchmark.threads: [1, 2, 3]
scenarios: [Server]
modes: [performance]
"""


def processes(*markers: str) -> dict[int, int]:
    """The live processes (not this one) whose command line names every marker: pid -> the
    pid of its parent."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if all(m in cmdline for m in markers) and stat[0] != "Z":
            found[int(entry.name)] = int(stat[1])
    return found


def harness_processes(home: str) -> dict[int, int]:
    """The running harness processes of the envs under the node's MLENV_HOME `home`."""
    return processes("mlenv_harness", home)


def wait_for(check: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())


@contextmanager
def slow_sweep_measuring(
    project: Any, tmp_path: Path, name: str
) -> Iterator[tuple[Any, Path, str, Any, dict[int, int]]]:
    """`mlenv explore --executor ray` of a 3-point slow sweep started as a subprocess on a
    one-node cluster, once its first point is recorded and the next one's harness runs on the
    node: (the cluster, the sweep file, the database URL, the driver, its harness processes)."""
    import subprocess
    import sys

    project.write(f"{name}-base.yaml", SLOW_BASE)
    path = project.write(f"{name}.yaml", SLOW_SWEEP.replace("NAME", name))
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    home = str(tmp_path / "node0-home")
    with cluster(project, tmp_path, [host_target(project)]) as (made, _):
        argv = [sys.executable, "-m", "mlenv", "explore", str(path), "--results", url]
        argv += ["--executor", "ray", "--ray-address", str(made.address)]
        child = subprocess.Popen(
            argv, env=project.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            assert wait_for(lambda: count_ok(url) >= 1 or child.poll() is not None, 300)
            assert wait_for(lambda: harness_processes(home) or child.poll() is not None, 60)
            if child.poll() is not None:
                err = child.communicate()[1].decode(errors="replace")
                raise AssertionError(f"the sweep ended before it could be interrupted: {err}")
            assert count_ok(url) == 1
            yield made, path, url, child, harness_processes(home)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def whole_runs(url: str, name: str) -> list[Any]:
    """The sweep's ok runs, each checked whole (a document from Ray and its logs)."""
    with ResultsDB.open(url) as db:
        rows = db.runs(sweep=name)
    ok = [r for r in rows if r.status == "ok"]
    for row in ok:
        assert row.document["executor"]["name"] == "ray"
        assert "mlperf_log_summary.txt" in row.logs
    return rows


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_the_nodes_harness_and_a_resume_finishes(project: Any, tmp_path: Path) -> None:
    """SIGINT to the driver mid-point: exit 130, the harness on the node ends with its actor,
    the database holds only whole runs (the interrupted point is not recorded, as with the
    local executor: not failed, not ok), and a resumed sweep measures just the rest."""
    import signal

    home = str(tmp_path / "node0-home")
    with slow_sweep_measuring(project, tmp_path, "rayint") as (made, path, url, child, running):
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 130, err.decode(errors="replace")
        assert wait_for(lambda: not harness_processes(home), 10), (running, harness_processes(home))
        rows = whole_runs(url, "rayint")
        assert [r.status for r in rows] == ["ok"]  # nothing failed, nothing half-written
        resumed = explore(
            path, results=url, executor="ray", ray_address=made.address, environ=project.environ()
        )
    assert (resumed.count("skipped"), resumed.count("ok")) == (1, 2), resumed.to_dict()
    rows = whole_runs(url, "rayint")
    assert [r.status for r in rows] == ["ok"] * 3 and len({r.point_id for r in rows}) == 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_actor_killed_takes_its_harness_with_it(project: Any, tmp_path: Path) -> None:
    """SIGKILL to the actor's process (no chance to clean up): its harness child gets the
    parent-death signal and ends too; the driver fails the point (and the rest, its only
    worker gone) and `--retry-failed` measures them."""
    import os
    import signal

    home = str(tmp_path / "node0-home")
    with slow_sweep_measuring(project, tmp_path, "raykill") as (made, path, url, child, running):
        (parent,) = set(running.values())
        assert Path(f"/proc/{parent}/cmdline").read_bytes().startswith(b"ray::NodeWorker")
        os.kill(parent, signal.SIGKILL)
        assert wait_for(lambda: not harness_processes(home), 5), (running, harness_processes(home))
        _, err = child.communicate(timeout=120)
        assert child.returncode == 1, err.decode(errors="replace")
        rows = whole_runs(url, "raykill")
        assert Counter(r.status for r in rows) == {"ok": 1, "failed": 2}
        retried = explore(
            path,
            results=url,
            executor="ray",
            ray_address=made.address,
            environ=project.environ(),
            retry_failed=True,
        )
    assert (retried.count("skipped"), retried.count("ok")) == (1, 2), retried.to_dict()
    rows = whole_runs(url, "raykill")
    ok = Counter(r.point_id for r in rows if r.status == "ok")
    assert len(ok) == 3 and set(ok.values()) == {1}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_bootstrap_dies_with_a_killed_actor_outside_rays_cleanup(
    two_nodes: str, tmp_path: Path
) -> None:
    """The parent-death signal is mlenv's own guarantee: a child in a session of its own
    (out of reach of Ray's clean-up of a dead worker's process group) started through the
    harness BOOTSTRAP ends when its actor is SIGKILLed on a node, a plain one runs on. The
    actor runs a call on its process's main thread (max_concurrency=1), the thread whose end
    the signal follows."""
    import os
    import signal
    import subprocess
    import sys

    import ray

    from mlenv.ops.harnessproc import BOOTSTRAP

    folder = tmp_path / "fake-harness"
    (folder / "mlenv_harness").mkdir(parents=True)
    (folder / "mlenv_harness" / "__main__.py").write_text("import time\ntime.sleep(120)\n")

    class Spawner:  # defined here: Ray ships it by value
        def where(self) -> tuple[bool, int]:
            return threading.current_thread() is threading.main_thread(), os.getpid()

        def spawn(self, cmd: list[str]) -> None:
            subprocess.Popen(cmd, start_new_session=True).wait()

    def alive(tag: str) -> list[int]:
        return list(processes(tag))

    ray.init(address=two_nodes, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        remote = ray.remote(Spawner)
        for kind in ("bootstrap", "plain"):
            actor = remote.options(num_cpus=0, max_concurrency=1, max_restarts=0).remote()
            main, pid = ray.get(actor.where.remote(), timeout=60)
            assert main
            tag = str(tmp_path / kind)
            if kind == "bootstrap":
                cmd = [sys.executable, "-I", "-c", BOOTSTRAP, str(pid), str(folder), tag]
            else:
                cmd = [sys.executable, "-c", "import time; time.sleep(120)", tag]
            actor.spawn.remote(cmd)
            assert wait_for(lambda t=tag: alive(t), 30)
            os.kill(pid, signal.SIGKILL)
            ended = wait_for(lambda t=tag: not alive(t), 5)
            left = alive(tag)
            for child in left:
                os.kill(child, signal.SIGKILL)
            assert ended == (kind == "bootstrap"), (kind, left)
    finally:
        ray.shutdown()
