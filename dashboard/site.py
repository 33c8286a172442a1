"""`build`: the static site in one folder, written aside and renamed into place.

    index.html  data.js  dashboard.js  dashboard.css  plotly.min.js  runs/<id>.html  runs/<id>.svg

It works from `file://` (data.js sets `window.MLENV_DATA`; nothing is fetched) and from any web
server; every script and style is in the folder (plotly's bundle is copied from the installed
`plotly` package), so nothing is requested from elsewhere at view time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from mlenv.errors import MlenvError

from .data import SiteData, page_name
from .pages import data_js, index_html, run_html

MARKER = ".mlenv-dashboard"
STATIC = ("dashboard.js", "dashboard.css")


class DashboardError(MlenvError):
    """The dashboard could not be written or served."""


def plotly_js() -> Path:
    """The bundled plotly.min.js of the installed `plotly` package."""
    try:
        import plotly
    except ImportError as e:  # a dependency of mlenv; missing only in a broken install
        raise DashboardError(
            "the plotly package is not installed",
            why="the dashboard ships plotly's bundled JavaScript",
            hint="pip install plotly",
        ) from e
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise DashboardError(
            f"{path} is missing",
            why="this plotly package has no bundled plotly.min.js",
            hint="reinstall plotly (pip install --force-reinstall plotly)",
        )
    return path


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (out / MARKER).is_file()):
        raise DashboardError(
            f"{out} exists and is not a dashboard mlenv built",
            where=str(out),
            why="building replaces the whole folder",
            hint="pass -o with a new folder (or the folder of an earlier `mlenv dashboard build`)",
        )


def write_site(site: SiteData, root: Path) -> int:
    """Every file of the site into the (empty) folder `root`; returns the number of run pages."""
    (root / MARKER).write_text("written by `mlenv dashboard build`\n", encoding="utf-8")
    (root / "index.html").write_text(index_html(), encoding="utf-8")
    (root / "data.js").write_text(data_js(site.data), encoding="utf-8")
    shutil.copyfile(plotly_js(), root / "plotly.min.js")
    static = resources.files("mlenv.dashboard").joinpath("static")
    for name in STATIC:
        (root / name).write_bytes(static.joinpath(name).read_bytes())
    runs = root / "runs"
    runs.mkdir()
    for detail in site.details:
        name = page_name(detail.row.run_id)
        picture = None
        if detail.histogram is not None:  # shown through <img>: an SVG there runs no script
            picture = f"{name}.svg"
            (runs / picture).write_bytes(detail.histogram)
        (runs / f"{name}.html").write_text(run_html(detail, picture), encoding="utf-8")
    return len(site.details)


def build_site(site: SiteData, out: Path) -> int:
    """Write the site beside `out` and swap it in; an interrupted build leaves the old one."""
    out = out.absolute()
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        count = write_site(site, tmp)
        os.chmod(tmp, 0o755)
        if out.exists():
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return count
