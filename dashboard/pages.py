"""The dashboard's HTML: `index.html` (the table, the Pareto plot, parallel coordinates and the
compare view, drawn by static/dashboard.js from data.js) and one page per run.

Everything read from the results database is untrusted (an imported table is someone else's
text): it is escaped on its way into HTML, and JSON placed in a script has `<`, `>` and `&`
written as \\u escapes so it cannot close the script element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from .data import RunDetail, run_record

HEAD = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>{title}</title>\n"
    '<link rel="stylesheet" href="{up}dashboard.css">\n</head>\n'
)


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(data, sort_keys=True, default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def data_js(data: Mapping[str, Any]) -> str:
    return f"window.MLENV_DATA = {script_json(data)};\n"


def _select(ident: str, label: str) -> str:
    return f'<label>{label} <select id="{ident}"></select></label>'


def index_html() -> str:
    """The page; its content comes from data.js (no request beyond the site's own files)."""
    filters = "".join(
        _select(f"filter-{key}", label)
        for key, label in (
            ("benchmark", "benchmark"),
            ("scenario", "scenario"),
            ("system", "system"),
            ("accelerator", "accelerator"),
            ("framework", "framework"),
            ("origin", "origin"),
            ("sweep", "sweep"),
        )
    )
    return (
        HEAD.format(title="mlenv results", up="") + "<body>\n<header><h1>mlenv results</h1>"
        '<p id="source" class="muted"></p></header>\n'
        '<section id="runs-section"><h2>Runs</h2>\n'
        '<div class="filters"><input id="filter-text" type="search" '
        f'placeholder="filter: any text" aria-label="filter">{filters}</div>\n'
        '<p id="count" class="muted"></p>\n'
        '<div class="scroll"><table id="runs"><thead></thead><tbody></tbody></table></div>'
        "</section>\n"
        '<section id="pareto-section"><h2>Pareto front</h2>\n<div class="filters">'
        + _select("pareto-group", "benchmark · scenario")
        + _select("pareto-x", "X")
        + _select("pareto-y", "Y")
        + '</div>\n<p id="pareto-note" class="muted"></p><div id="pareto" class="plot"></div>'
        "</section>\n"
        '<section id="parcoords-section"><h2>Parallel coordinates</h2>\n<div class="filters">'
        + _select("parcoords-sweep", "sweep")
        + '</div>\n<div id="parcoords" class="plot"></div></section>\n'
        '<section id="compare-section"><h2>Compare two runs</h2>\n<div class="filters">'
        + _select("compare-a", "run A")
        + _select("compare-b", "run B")
        + '</div>\n<table id="compare"></table></section>\n'
        '<script src="plotly.min.js"></script>\n<script src="data.js"></script>\n'
        '<script src="dashboard.js"></script>\n</body></html>\n'
    )


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def _table(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return '<p class="muted">none recorded</p>'
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(_text(v))}</td></tr>"
        for k, v in sorted(mapping.items(), key=lambda kv: str(kv[0]))
    )
    return f'<table class="kv">{rows}</table>'


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def reproduce_commands(detail: RunDetail, sweep_file: str | None = None) -> list[str]:
    """The commands that measure this run again (mlenv's own runs), else what can be done."""
    row = detail.row
    if not row.origin.startswith("mlenv"):
        return []
    point = row.point_id.removeprefix("sha256:")[:12]
    scenario, mode = row.scenario or "Offline", row.mode or "performance"
    if row.sweep:
        sweep = sweep_file or f"{row.sweep}.yaml"
        bundle = f"{row.sweep}-{point}.mlenv.tar"
        return [
            f"mlenv explore {sweep} --pack {point} -o {bundle}",
            f"mlenv reproduce {bundle}",
        ]
    return [
        f"mlenv run --frozen --scenario {scenario} --mode {mode}",
        "mlenv pack -o run.mlenv.tar && mlenv reproduce run.mlenv.tar",
    ]


def run_html(detail: RunDetail, histogram_file: str | None) -> str:
    """runs/<id>.html: the run's record, lock, target, settings, histogram, LoadGen summary and
    the commands that reproduce it."""
    row, record = detail.row, run_record(detail.row)
    title = f"run {row.run_id}"
    commands = reproduce_commands(detail)
    if commands:
        how = _pre("\n".join(commands))
    else:
        how = (
            f"<p>An official MLPerf result ({escape(row.origin)}): mlenv did not measure it. "
            "Its submitter's code and logs are in the round's results repository.</p>"
        )
    picture = (
        f'<img src="{escape(histogram_file)}" alt="latency histogram" class="histogram">'
        if histogram_file
        else '<p class="muted">no latency histogram recorded for this run</p>'
    )
    shown = {k: v for k, v in record.items() if k not in ("settings", "facts", "page")}
    return (
        HEAD.format(title=escape(title), up="../")
        + f'<body>\n<p><a href="../index.html">all runs</a></p>\n<h1>{escape(title)}</h1>\n'
        f"<h2>Result</h2>{_table(shown)}\n"
        f"<h2>Reproduce</h2>{how}\n"
        f'<h2>Lock</h2><p>lock section digest: <code id="lock">{escape(row.lock or "-")}'
        "</code></p>\n<h3>derived manifest</h3>"
        + (_pre(detail.manifest) if detail.manifest else '<p class="muted">not recorded</p>')
        + f"\n<h2>Target facts</h2>{_table(record['facts'])}\n"
        f"<h2>Settings</h2>{_table(record['settings'])}\n"
        f"<h2>Latency histogram</h2>{picture}\n<h2>LoadGen summary</h2>"
        + (_pre(detail.summary) if detail.summary else '<p class="muted">not recorded</p>')
        + f"\n<h2>result.json</h2>{_pre(json.dumps(dict(row.document), indent=2, sort_keys=True, default=str))}"
        "\n</body></html>\n"
    )
