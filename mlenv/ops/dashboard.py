"""dashboard: `build` the static results site from the results database, `serve` it on
127.0.0.1 (CONTRACTS §15). The site is `mlenv.dashboard`'s; this module picks the database
(as `mlenv results` does) and the folder: `-o DIR`, else `.mlenv/dashboard/` beside the manifest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv.dashboard.data import collect
from mlenv.dashboard.serve import Server
from mlenv.dashboard.site import MARKER, build_site
from mlenv.resultsdb import safe_url

from .project import Project
from .results import opened


def default_dir(project: Project) -> Path:
    return project.project_dir / ".mlenv" / "dashboard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    path: Path
    results: str
    runs: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "index": str(self.path / "index.html"),
                "results": self.results, "runs": self.runs}  # fmt: skip


def build(project: Project, *, out: Path | None = None, url: str | None = None) -> Built:
    """Write the site (atomically: built aside, renamed into place)."""
    folder = (out or default_dir(project)).absolute()
    with opened(project, url, create=False) as db:
        source = safe_url(db.url)
        site = collect(db, source=source)
    count = build_site(site, folder)
    project.reporter.info(f"wrote {folder / 'index.html'} ({count} runs)")
    return Built(path=folder, results=source, runs=count)


def collect_data(project: Project, *, url: str | None = None) -> dict[str, Any]:
    """window.MLENV_DATA of the database, as a build would write it."""
    with opened(project, url, create=False) as db:
        return collect(db, source=safe_url(db.url)).data


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    path: Path
    url: str
    built: Built | None  # None when an existing site was served as it was

    def to_dict(self) -> dict[str, Any]:
        built = self.built.to_dict() if self.built else None
        return {"path": str(self.path), "url": self.url, "built": built}


def serve(
    project: Project,
    *,
    out: Path | None = None,
    url: str | None = None,
    port: int = 0,
    until: Callable[[Server], None] | None = None,
) -> Served:
    """Serve the site on 127.0.0.1 (building it first when the folder holds none) until Ctrl-C,
    or until `until(server)` returns (it runs while the server answers in the background)."""
    folder = (out or default_dir(project)).absolute()
    built = None if (folder / MARKER).is_file() else build(project, out=folder, url=url)
    server = Server(folder, port)
    project.reporter.info(f"serving {folder} at {server.url} (Ctrl-C stops)")
    try:
        if until is None:
            server.serve_forever()
        else:
            server.start()
            until(server)
    except KeyboardInterrupt:
        project.reporter.info("stopped")
    finally:
        server.stop()
    return Served(path=folder, url=server.url, built=built)
