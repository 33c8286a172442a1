"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): built from a real
sweep of the offline null-backend project plus an imported official summary.csv, served on
127.0.0.1 — every request stays on 127.0.0.1, the table shows every run and the filter narrows
it, the Pareto plot draws the front the results database computes, a click opens a run page, a
screenshot is not blank; and index.html works from file:// too."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlperf_loadgen")
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip

from runproject import SWEEP_BASE, nullrun_project  # noqa: E402

import mlenv  # noqa: E402
from mlenv.dashboard.data import front_of  # noqa: E402
from mlenv.dashboard.serve import Server  # noqa: E402
from mlenv.explore import explore  # noqa: E402
from mlenv.ops import dashboard  # noqa: E402
from mlenv.ops.resultsimport import import_paths  # noqa: E402

SWEEP = """
name: dash
axes:
  benchmark.max-batch: [1, 64]
  benchmark.threads: [1, 2]
scenarios: [Offline]
modes: [performance]
"""
SUMMARY = (
    "Organization,Availability,Division,SystemName,Platform,Model,Scenario,Result,Units,"
    "Accuracy,version,accelerator_model_name,total_accelerators,framework\n"
    "AcmeAI,available,closed,Acme box,acme_box,resnet,Offline,91000.5,Samples/s,"
    '"acc: 76.1",v5.0,Acme X1,8,TensorRT 10\n'
    "AcmeAI,available,closed,Acme box,acme_box,resnet,SingleStream,0.41,Latency (ms),"
    '"acc: 76.1",v5.0,Acme X1,8,TensorRT 10\n'
    'Other Co,available,open,Tiny,tiny,resnet,Offline,1200,Samples/s,"acc: 75.0",v5.0,,0,'
    "onnxruntime\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dashboard")
    with nullrun_project(tmp) as written:
        written.write("mlenv.yaml", SWEEP_BASE)
        sweep = written.write("dash.yaml", SWEEP)
        url = f"sqlite:///{written.root / 'results.db'}"
        done = explore(sweep, results=url, environ=written.environ())
        assert done.count("ok") == 4
        project = mlenv.Project.open(written.root, environ=written.environ())
        (tmp / "summary.csv").write_text(SUMMARY)
        imported = import_paths(project, [tmp / "summary.csv"], url=url)
        assert imported.new == 3
        built = dashboard.build(project, url=url)
        data = dashboard.collect_data(project, url=url)
        yield {"dir": built.path, "data": data, "runs": built.runs}


def _browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from _browser()


def test_the_served_site_in_chromium(site: dict[str, Any], browser: Any) -> None:
    from PIL import Image

    data = site["data"]
    total = len(data["runs"])
    assert total == site["runs"] == 7
    with Server(site["dir"]).start() as server:
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "index.html")
        page.wait_for_selector("#runs tbody tr")
        assert page.locator("#runs tbody tr").count() == total
        assert page.text_content("#count") == f"{total} of {total} runs"
        origins = set(page.locator("#runs tbody td:nth-child(2)").all_text_contents())
        assert origins == {"mlenv", "mlperf-v5.0"}
        page.fill("#filter-text", "acme")
        assert page.locator("#runs tbody tr").count() == 2
        assert page.text_content("#count") == f"2 of {total} runs"
        page.fill("#filter-text", "")
        page.select_option("#filter-origin", "mlenv")
        assert page.locator("#runs tbody tr").count() == 4
        page.select_option("#filter-origin", "")
        page.click("#runs th[data-key=samples_per_second]")  # sorts, ascending
        shown = [r["samples_per_second"] for r in data["runs"] if r["samples_per_second"]]
        first = page.locator("#runs tbody tr").first.get_attribute("data-run")
        assert next(r for r in data["runs"] if r["id"] == first)["samples_per_second"] == min(shown)

        # the Pareto plot of the sweep's group: the front the results database computes
        (index, group) = next(
            (i, g) for i, g in enumerate(data["groups"]) if g["benchmark"] != "resnet"
        )
        page.select_option("#pareto-group", str(index))
        page.select_option("#pareto-x", "samples_per_second")
        page.select_option("#pareto-y", "latency_ns.p90")
        page.wait_for_selector("#pareto svg.main-svg")
        traces = page.evaluate(
            "() => document.getElementById('pareto').data.map(t => [t.name, t.customdata])"
        )
        expected = set(front_of(group, "samples_per_second", "latency_ns.p90"))
        assert expected and set(dict(traces)["front"]) == expected
        assert len(dict(traces)["front"]) + len(dict(traces)["dominated"]) == 4
        page.wait_for_selector("#parcoords svg.main-svg")
        assert page.locator("#compare tr").count() > 5

        png = page.screenshot(full_page=True)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20) or [(0, (0, 0, 0)), (0, (1, 1, 1))]
        assert len(colours) > 1 and any(c != (255, 255, 255) for _, c in colours)

        # a run page opens from a click in the table
        run_id = page.locator("#runs tbody tr").first.get_attribute("data-run")
        page.click(f"#runs tbody tr[data-run='{run_id}'] a")
        page.wait_for_url("**/runs/*.html")
        assert page.text_content("h1") == f"run {run_id}"
        assert page.locator("text=Reproduce").count() >= 1
        page.close()
    assert requests and all(u.startswith("http://127.0.0.1:") for u in requests), requests
    assert not errors, errors


def test_index_works_from_file_url(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((site["dir"] / "index.html").as_uri())
    page.wait_for_selector("#pareto svg.main-svg")
    assert page.locator("#runs tbody tr").count() == len(site["data"]["runs"])
    assert all(u.startswith("file://") for u in requests), requests
    page.close()
