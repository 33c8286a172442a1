"""A real PostgreSQL server for tests: `initdb` and `pg_ctl` of PostgreSQL 15, a data folder in a
fresh temporary folder, listening on 127.0.0.1 at a free port (its socket inside that folder),
trust authentication. As root the server runs as the `postgres` user (PostgreSQL refuses root).

`available()` says why not when the binaries (or the user) are missing; `start()` returns a
`PgServer` whose `database()` creates a fresh database and returns its SQLAlchemy URL.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

BIN = Path(os.environ.get("MLENV_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"


def available() -> str | None:
    """None when a server can be started here, else the reason it cannot."""
    for tool in ("initdb", "pg_ctl"):
        if not (BIN / tool).is_file():
            return f"PostgreSQL 15 is not installed ({BIN / tool} is missing)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return f"running as root and there is no {USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(
        _as_server_user(cmd), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


@dataclass
class PgServer:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            _run([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], self.root)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start() -> PgServer:
    """initdb + pg_ctl start; the caller stops it (`PgServer.stop`)."""
    root = Path(tempfile.mkdtemp(prefix="mlenv-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PgServer(root=root, port=_free_port())
    try:
        _run(
            [
                str(BIN / "initdb"),
                "-D",
                str(server.data),
                "--auth=trust",
                f"--username={USER}",
                "--encoding=UTF8",
                "--no-sync",
            ],
            root,
        )
        options = f"-k {root} -p {server.port} -h 127.0.0.1 -c fsync=off"
        log = root / "server.log"
        _run(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(server.data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "start",
            ],
            root,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server
