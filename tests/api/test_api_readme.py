"""The README's Python API example runs as written, on an offline project in place of
`examples/digits` (`tests/support/nullrun.py`), in an environment that is the test's own:
`Project.open(path)` takes the process's environment variables, as a user's script would."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from runproject import nullrun_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PATH = '"examples/digits"'
RESULT_KEYS = {
    "version", "benchmark", "dataset", "scenario", "mode", "valid", "samples_per_second",
    "latency_ns", "lock", "target", "backend", "settings",
}  # fmt: skip


def readme_example() -> str:
    """The ```python block under "## The Python API" in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## The Python API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)
    assert found, "README.md: no ```python block under '## The Python API'"
    return found.group(1)


def test_the_readme_example_names_the_digits_example() -> None:
    code = readme_example()
    assert code.count(EXAMPLE_PATH) == 1 and "results = project.run(" in code
    compile(code, "README.md", "exec")


def test_the_readme_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlperf_loadgen")
    with nullrun_project(tmp_path) as written:
        environ = written.environ()
        for key in set(os.environ) - set(environ):
            monkeypatch.delenv(key)
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        code = readme_example().replace(EXAMPLE_PATH, repr(str(written.root)))
        namespace: dict[str, Any] = {"__name__": "__readme__"}
        exec(compile(code, "README.md", "exec"), namespace)
    results = namespace["results"]
    assert isinstance(results, list) and results
    for doc in results:
        assert isinstance(doc, dict) and set(doc) >= RESULT_KEYS, sorted(doc)
        assert (doc["scenario"], doc["mode"], doc["valid"]) == ("Offline", "performance", True)
        assert doc["settings"]["min_duration"] == 500 and doc["samples_per_second"] > 0
    assert written.lock.is_file() and namespace["env"].path.is_dir()
    lock = namespace["lock"]
    assert results[0]["lock"] == next(iter(lock.targets.values())).digest()
