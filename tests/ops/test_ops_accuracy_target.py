"""The accuracy target (issue 15): an accuracy run's metric against the model recipe's
`reference-accuracy`, met at 99 % of it (or the recipe's `accuracy-target`), shown beside the
measured accuracy in the `mlenv run` table.

The rule as data (`measure.accuracy_target`), the recipe key, and one real offline run (the
`null` backend of `tests/support/nullrun.py`: zeros, so top1 is the share of label 0, 7/64).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import localpypi as H
import pytest
from rich.console import Console
from runproject import nullrun_project

from mlenv.cli.table import results_table, target_note
from mlenv.ops.measure import accuracy_target, with_accuracy_target
from mlenv.recipe import Recipe
from mlenv.yamlio import Problems

# (accuracy measured, reference, fraction) -> expected accuracy_target (None: no field value)
CASES: list[tuple[str, dict[str, Any], dict[str, float], float, dict[str, Any] | None]] = [
    (
        "met at 99 %",
        {"top1": 0.995},
        {"top1": 0.9},
        0.99,
        {"metric": "top1", "reference": 0.9, "fraction": 0.99, "target": 0.891, "met": True},
    ),
    (
        "exactly the target is met",
        {"top1": 0.891},
        {"top1": 0.9},
        0.99,
        {"metric": "top1", "reference": 0.9, "target": 0.891, "met": True},
    ),
    (
        "just below is not",
        {"top1": 0.8909},
        {"top1": 0.9},
        0.99,
        {"metric": "top1", "target": 0.891, "met": False},
    ),
    (
        "99.9 % from the recipe",
        {"f1": 0.905},
        {"f1": 0.90874},
        0.999,
        {"metric": "f1", "fraction": 0.999, "target": 0.90783126, "met": False},
    ),
    (
        "a reference in percent against a fraction",
        {"top1": 0.7646},
        {"top1": 76.46},
        0.99,
        {"metric": "top1", "reference": 0.7646, "target": 0.756954, "met": True},
    ),
    (
        "a reference for an unmeasured metric is ignored",
        {"top1": 0.5},
        {"map": 0.3757},
        0.99,
        None,
    ),
    (
        "the first measured metric with a reference",
        {"rouge1": 0.43, "rouge2": 0.1, "rougeL": 0.3},
        {"rougeL": 0.286162, "rouge1": 0.444312},
        0.99,
        {"metric": "rouge1", "reference": 0.444312, "met": False},
    ),
    ("no accuracy at all", {}, {"top1": 0.9}, 0.99, None),
    ("a value that is no number", {"top1": "n/a"}, {"top1": 0.9}, 0.99, None),
]


@pytest.mark.parametrize(
    ("accuracy", "reference", "fraction", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_the_rule(
    accuracy: dict[str, Any],
    reference: dict[str, float],
    fraction: float,
    expected: dict[str, Any] | None,
) -> None:
    got = accuracy_target(accuracy, tuple(reference.items()), fraction)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert set(got) == {"metric", "reference", "fraction", "target", "measured", "met"}
    assert got["measured"] == accuracy[got["metric"]]
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_only_accuracy_runs_get_the_field() -> None:
    ref = (("top1", 0.9),)
    perf = with_accuracy_target({"mode": "performance", "accuracy": {"top1": 1.0}}, ref, None)
    assert "accuracy_target" not in perf
    audit = {"mode": "accuracy", "compliance": {"test": "TEST01"}, "accuracy": {"top1": 1.0}}
    assert "accuracy_target" not in with_accuracy_target(audit, ref, None)
    acc = with_accuracy_target({"mode": "accuracy", "accuracy": {"top1": 1.0}}, ref, None)
    assert acc["accuracy_target"]["fraction"] == 0.99  # MLPerf's default
    nothing = with_accuracy_target({"mode": "accuracy", "accuracy": {"top1": 1.0}}, (), None)
    assert nothing["accuracy_target"] is None  # said, not left out


def _recipe(extra: str) -> tuple[Recipe, Problems]:
    import yaml

    data = yaml.safe_load(
        'name: m\nkind: model\nversions: ["1"]\nreference-accuracy: {top1: 0.9}\n' + extra
    )
    problems = Problems("models/m.yaml")
    return Recipe.from_dict(data, problems), problems


def test_the_recipe_key() -> None:
    recipe, problems = _recipe("accuracy-target: 0.999\n")
    assert not problems and recipe.accuracy_target == 0.999
    recipe, problems = _recipe("")
    assert not problems and recipe.accuracy_target is None
    for bad in ("1.5", "0", "high", "true"):
        _, problems = _recipe(f"accuracy-target: {bad}\n")
        (problem,) = problems.problems()
        assert "accuracy-target" in problem.where, bad
    data = {"name": "d", "kind": "dataset", "versions": ["1"], "accuracy-target": 0.99}
    problems = Problems("datasets/d.yaml")
    Recipe.from_dict(data, problems)
    assert any("belongs to model recipes" in p.message for p in problems.problems())


def test_the_table_shows_it_beside_the_accuracy() -> None:
    target = accuracy_target({"top1": 0.995}, (("top1", 0.9),), 0.99)
    assert target_note(target, "top1") == " (ref 0.9000, 99% = 0.8910: [green]met[/green])"
    assert target_note(target, "top5") == ""
    high = accuracy_target({"f1": 0.9}, (("f1", 0.90874),), 0.999)
    assert "99.9% = 0.9078: [red]not met[/red]" in target_note(high, "f1")


def _text(renderable: Any, width: int) -> str:
    console = Console(width=width, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_real_accuracy_run(tmp_path: Path) -> None:
    pytest.importorskip("mlperf_loadgen")
    with nullrun_project(tmp_path) as project:
        recipe = project.recipes / "models" / "zeromodel.yaml"
        # null answers class 0: top1 = 7/64 = 0.109; 0.1 is met at 99.9 %, 50 % is not
        recipe.write_text(
            recipe.read_text() + "reference-accuracy: {top1: 0.1}\naccuracy-target: 0.999\n"
        )
        result = H.run_mlenv(project, "resolve")
        assert result.returncode == 0, str(result)
        args = ("run", "--mode", "accuracy", "--scenario", "Offline", "--allow-invalid")
        result = H.run_mlenv(project, *args, env={**project.environ(), "COLUMNS": "200"})
        assert result.returncode == 0, str(result)
        assert re.search(r"top1 0\.1094 \(ref 0\.1000, 99\.9% = 0\.0999: met\)", result.stderr), (
            result.stderr
        )
        (file,) = (project.root / "results").rglob("accuracy/result.json")
        doc = json.loads(file.read_text())
        assert doc["accuracy_target"] == {
            "metric": "top1",
            "reference": 0.1,
            "fraction": 0.999,
            "target": pytest.approx(0.0999),
            "measured": doc["accuracy"]["top1"],
            "met": True,
        }
        # every layout of the table carries it
        for width in (200, 70, 30):
            text = _text(results_table([doc], width), width)
            assert "met" in text and "0.0999" in text.replace("\n", ""), text
        # a reference in percent the run does not reach
        recipe.write_text(recipe.read_text().replace("{top1: 0.1}", "{top1: 50}"))
        assert H.run_mlenv(project, "resolve").returncode == 0
        result = H.run_mlenv(project, *args, "--json")
        assert result.returncode == 0, str(result)
        (doc,) = json.loads(result.stdout)["data"]
        assert doc["accuracy_target"]["reference"] == 0.5
        assert doc["accuracy_target"]["met"] is False
