"""`mlenv diff`: the pure diff of small locks built here, and the command around it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlenv.lock import (
    ArtifactPin,
    CondaPin,
    Lock,
    LockedPackage,
    LockTarget,
    PypiPin,
    SystemPin,
    write_lock,
)
from mlenv.lockdiff import diff_locks, diff_sections

SHA = {c: c * 64 for c in "abcdef0123"}
FACTS = {"os": "linux", "arch": "x86_64", "python": "3.11", "libc": {"glibc": "2.36"}}


def pkg(name: str, version: str, recipe: str = "a", **variants: str) -> LockedPackage:
    return LockedPackage(
        name=name,
        kind="framework",
        version=version,
        recipe=f"sha256:{SHA[recipe]}",
        file=f"builtin:frameworks/{name}.yaml",
        variants=tuple(sorted(variants.items())),
    )


def wheel(name: str, version: str, sha: str = "b") -> PypiPin:
    return PypiPin(
        name=name,
        version=version,
        url=f"https://x/{name}-{version}-py3-none-any.whl",
        sha256=SHA[sha],
    )


def section(name: str = "linux-x86_64-cpu", **changes: Any) -> LockTarget:
    base: dict[str, Any] = {
        "facts": FACTS,
        "packages": {"ort": pkg("ort", "1.20.1", device="cpu"), "model": pkg("model", "1.0")},
        "pypi": (wheel("numpy", "2.1.3"), wheel("ort", "1.20.1")),
        "conda": (
            CondaPin(
                name="gcc",
                version="13.2.0",
                build="h1",
                subdir="linux-64",
                url="https://c/gcc.conda",
                sha256=SHA["c"],
            ),
        ),
        "artifacts": (
            ArtifactPin(name="m.onnx", package="model", url="https://m", sha256=SHA["d"]),
        ),
        "system": (SystemPin(name="make", version="4.3", package="make"),),
    }
    base.update(changes)
    return LockTarget(name=name, **base)


def lock(*sections: LockTarget, manifest: str = "sha256:m") -> Lock:
    return Lock(manifest=manifest, recipes="sha256:r", targets={s.name: s for s in sections})


def test_identical_locks() -> None:
    diff = diff_locks(lock(section()), lock(section()))
    assert diff.identical
    assert diff.to_dict()["targets"]["linux-x86_64-cpu"]["status"] == "same"


def test_every_category_added_removed_changed() -> None:
    a = section()
    b = section(
        facts={**FACTS, "libc": {"glibc": "2.39"}, "microarch": "x86_64_v3"},
        packages={"ort": pkg("ort", "1.21.0", device="cuda"), "data": pkg("data", "2.0")},
        pypi=(wheel("numpy", "2.1.3", sha="e"), wheel("ort", "1.21.0"), wheel("six", "1.16")),
        conda=(),
        artifacts=(ArtifactPin(name="m.onnx", package="model", url="https://m", sha256=SHA["f"]),),
        system=(SystemPin(name="make", version="4.4", package="make"),),
    )
    diff = diff_sections(a, b)
    assert diff.status == "changed"
    got = {(c.category, c.name, c.kind): c for c in diff.changes}
    assert set(got) == {
        ("facts", "libc.glibc", "changed"),
        ("facts", "microarch", "added"),
        ("packages", "data", "added"),
        ("packages", "model", "removed"),
        ("packages", "ort", "changed"),
        ("pypi", "numpy", "changed"),
        ("pypi", "ort", "changed"),
        ("pypi", "six", "added"),
        ("conda", "gcc", "removed"),
        ("artifacts", "model/m.onnx", "changed"),
        ("system", "make", "changed"),
    }
    ort = got[("packages", "ort", "changed")]
    assert (ort.old, ort.new) == ("1.20.1 [device=cpu]", "1.21.0 [device=cuda]")
    assert set(ort.detail) == {"version", "variants"}
    numpy = got[("pypi", "numpy", "changed")]
    assert numpy.old == numpy.new == "2.1.3" and numpy.detail == ("sha256",)
    assert got[("facts", "libc.glibc", "changed")].new == "2.39"


def test_a_changed_recipe_at_the_same_version_is_a_change() -> None:
    packages = {"ort": pkg("ort", "1.20.1", recipe="e", device="cpu"), "model": pkg("model", "1.0")}
    b = section(packages=packages)
    (change,) = diff_sections(section(), b).changes
    assert change.detail == ("recipe",) and change.kind == "changed"


def test_targets_and_inputs() -> None:
    other = section("linux-aarch64-cpu", facts={**FACTS, "arch": "aarch64"})
    diff = diff_locks(lock(section()), lock(other, manifest="sha256:n"))
    statuses = {t.name: t.status for t in diff.targets}
    assert statuses == {"linux-aarch64-cpu": "added", "linux-x86_64-cpu": "removed"}
    assert [c.name for c in diff.inputs] == ["manifest"]
    added = next(t for t in diff.targets if t.status == "added")
    assert all(c.kind == "added" for c in added.changes)


def test_the_command(tmp_path: Path, mlenv_cli: Callable[..., Any]) -> None:
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    write_lock(a, lock(section()))
    write_lock(b, lock(section(pypi=(wheel("numpy", "2.2.0"), wheel("ort", "1.20.1")))))
    human = mlenv_cli(tmp_path, "diff", "a.lock", "b.lock")
    assert human.returncode == 0, str(human)
    assert "linux-x86_64-cpu: changed (1 changed)" in human.err
    assert "numpy 2.1.3 → 2.2.0" in human.err
    data = mlenv_cli(tmp_path, "diff", str(a), str(b), "--json")
    envelope = json.loads(data.stdout)
    assert envelope["version"] == 1 and envelope["command"] == "diff" and envelope["ok"] is True
    document = envelope["data"]
    assert document["identical"] is False and document["b"] == str(b)
    (change,) = document["targets"]["linux-x86_64-cpu"]["changed"]
    assert change == {
        "category": "pypi",
        "name": "numpy",
        "kind": "changed",
        "old": "2.1.3",
        "new": "2.2.0",
        "fields": ["url", "version"],
    }
    same = mlenv_cli(tmp_path, "diff", "a.lock", "a.lock")
    assert same.returncode == 0 and "the same stacks" in same.err


def test_command_errors(tmp_path: Path, mlenv_cli: Callable[..., Any], helpers: Any) -> None:
    write_lock(tmp_path / "a.lock", lock(section()))
    missing = mlenv_cli(tmp_path, "diff", "a.lock", "nope.lock")
    helpers.assert_user_error(missing, "no lock file at", "nope.lock")
    (tmp_path / "bad.lock").write_text("version: 1\ninputs: {}\ntargets: {x: {facts: 3}}\n")
    bad = mlenv_cli(tmp_path, "diff", "a.lock", "bad.lock")
    helpers.assert_user_error(bad, "bad.lock")


def test_exit_code_flag(tmp_path: Path, mlenv_cli: Callable[..., Any]) -> None:
    """`--exit-code`, as git diff has it: 1 when the locks differ, 0 when they are the same."""
    write_lock(tmp_path / "a.lock", lock(section()))
    write_lock(tmp_path / "b.lock", lock(section(pypi=(wheel("numpy", "2.2.0"),))))
    differ = mlenv_cli(tmp_path, "diff", "a.lock", "b.lock", "--exit-code", "--json")
    assert differ.returncode == 1
    envelope = json.loads(differ.stdout)
    assert envelope["ok"] is False and "differ" in envelope["error"]["message"]
    assert envelope["data"]["identical"] is False
    assert mlenv_cli(tmp_path, "diff", "a.lock", "a.lock", "--exit-code").returncode == 0
    assert mlenv_cli(tmp_path, "diff", "a.lock", "b.lock").returncode == 0
