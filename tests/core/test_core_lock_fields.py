"""Each lock entry's fields are declared once (`lockfields.spec`): reading, writing and the
allowed keys all follow the declaration; every pin type survives dump -> load unchanged, and
every checked field refuses a hostile value, naming its dotted field."""

from __future__ import annotations

import dataclasses
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import lockfields
from mlenv.errors import FormatError, LockError
from mlenv.lock import (
    ArtifactPin,
    CondaPin,
    Lock,
    LockedPackage,
    LockTarget,
    PypiPin,
    SystemPin,
    loads_lock,
    write_lock,
)

PIN_TYPES = (LockedPackage, PypiPin, CondaPin, ArtifactPin, SystemPin)
SHA = "ab" * 32

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
names = st.builds(
    operator.add, st.sampled_from(_ALNUM), st.text(alphabet=_ALNUM + "._-+", max_size=10)
)
pypi_names = st.builds(
    operator.add,
    st.sampled_from(_ALNUM),
    st.text(alphabet=_ALNUM + "._-", max_size=10).map(lambda t: t + "0" if t else t),
)
versions = st.lists(st.integers(0, 999), min_size=1, max_size=4).map(
    lambda xs: ".".join(map(str, xs))
)
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
md5s = st.binary(min_size=16, max_size=16).map(bytes.hex)
relpaths = st.lists(names, min_size=1, max_size=3).map("/".join)
urls = st.one_of(
    st.builds(lambda n, p: f"https://files.example/{n}/{p}", names, relpaths),
    st.builds(lambda p: f"file:///srv/{p}", relpaths),
    st.builds(lambda p: f"builtin:models/{p}", relpaths),
    st.builds(lambda p: f"./recipes/{p}", relpaths),
    st.builds(lambda p: f"../shared/{p}", relpaths),
)
sizes = st.none() | st.integers(0, 2**50)
free = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
        exclude_characters="\ufeff",
    ),
    max_size=20,
)

packages = st.builds(
    LockedPackage,
    name=names,
    kind=st.sampled_from(["compiler", "runtime", "framework", "model", "dataset", "tool"]),
    version=versions,
    recipe=hexes.map(lambda h: "sha256:" + h),
    file=st.sampled_from(["", "builtin:models/a.yaml", "./recipes/models/a.yaml"]),
    variants=st.dictionaries(names, names, max_size=3).map(lambda d: tuple(sorted(d.items()))),
    requires=st.lists(names, max_size=3).map(tuple),
)
pypi_pins = st.builds(
    PypiPin, name=pypi_names, version=versions, url=urls, sha256=hexes, size=sizes
)
conda_pins = st.builds(
    CondaPin,
    name=names | names.map(lambda n: "_" + n),
    version=versions,
    build=names,
    subdir=st.sampled_from(["noarch", "linux-64", "linux-aarch64", "osx-arm64", "win-64"]),
    url=urls,
    sha256=hexes,
)
artifact_pins = st.builds(
    ArtifactPin,
    name=names,
    package=names,
    url=st.none() | urls,
    sha256=st.none() | hexes,
    md5=st.none() | md5s,
    size=sizes,
    extract=st.none() | st.sampled_from(["tar", "zip"]),
    strip=st.none() | st.integers(1, 32),  # 0 is written as nothing, read back as None
    path=st.none() | relpaths,
    member=st.none() | relpaths,
    member_sha256=st.none() | hexes,
    local_env=st.none() | st.sampled_from(["X", "MLENV_IMAGENET_VAL", "_DATA2"]),
    tree_sha256=st.none() | hexes,
)
system_pins = st.builds(
    SystemPin,
    name=names,
    version=versions,
    package=names,
    executables=st.lists(names, max_size=2).map(tuple),
    args=st.lists(free, max_size=2).map(tuple),
    regex=st.none() | free,
)
facts = st.dictionaries(
    st.sampled_from(["os", "arch", "python", "accelerator", "microarch", "cuda"]),
    free | st.dictionaries(names, free, max_size=2),
    max_size=6,
)


def _sorted(items: list[Any], key: Any) -> tuple[Any, ...]:
    return tuple(sorted(items, key=key))


@st.composite
def lock_targets(draw: Any, name: str) -> LockTarget:
    by_nv = operator.attrgetter("name", "version")
    pkgs = draw(st.lists(packages, max_size=3, unique_by=lambda p: p.name))
    return LockTarget(
        name=name,
        facts=draw(facts),
        packages={p.name: p for p in pkgs},
        pypi=_sorted(draw(st.lists(pypi_pins, max_size=3, unique_by=by_nv)), by_nv),
        conda=_sorted(draw(st.lists(conda_pins, max_size=3, unique_by=by_nv)), by_nv),
        artifacts=_sorted(
            draw(st.lists(artifact_pins, max_size=4, unique_by=lambda a: (a.package, a.name))),
            lambda a: (a.package, a.name),
        ),
        system=_sorted(
            draw(st.lists(system_pins, max_size=2, unique_by=lambda s: s.name)),
            lambda s: s.name,
        ),
    )


@st.composite
def locks(draw: Any) -> Lock:
    target_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    return Lock(
        manifest="sha256:" + draw(hexes),
        recipes="sha256:" + draw(hexes),
        targets={n: draw(lock_targets(n)) for n in target_names},
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(locks())
def test_every_pin_type_round_trips(lock: Lock) -> None:
    text = lock.dumps()
    again = loads_lock(text, "mlenv.lock")
    assert again == lock
    assert again.dumps() == text
    assert again.warnings == ()


@pytest.mark.parametrize("cls", PIN_TYPES, ids=lambda c: c.__name__)
def test_models_are_frozen_slotted_keyword_only(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))


def _full(cls: type) -> Any:
    """An instance with every optional field set (so to_dict writes every key)."""
    values: dict[str, Any] = {
        LockedPackage: dict(
            name="p",
            kind="model",
            version="1",
            recipe="sha256:" + SHA,
            file="./r/p.yaml",
            variants=(("device", "cpu"),),
            requires=("q",),
        ),
        PypiPin: dict(
            name="a",
            version="1",
            url="https://x/a.whl",
            sha256=SHA,
            size=3,
            requires=("b",),
            build_for=("c",),
        ),
        CondaPin: dict(
            name="a",
            version="1",
            build="0",
            subdir="noarch",
            url="https://x/a",
            sha256=SHA,
            requires=("b",),
        ),
        ArtifactPin: dict(
            name="a",
            package="p",
            url="https://x/a",
            sha256=SHA,
            md5="c" * 32,
            size=1,
            extract="tar",
            strip=1,
            path="x",
            member="m/x",
            member_sha256=SHA,
            local_env="X",
            tree_sha256=SHA,
        ),
        SystemPin: dict(
            name="gcc", version="12", package="gcc", executables=("gcc",), args=("-v",), regex="x"
        ),
    }[cls]
    return cls(**values)


@pytest.mark.parametrize("cls", PIN_TYPES, ids=lambda c: c.__name__)
def test_written_keys_are_the_declared_keys(cls: type) -> None:
    assert set(_full(cls).to_dict()) == set(lockfields.keys(cls))


def _one_entry_lock(cls: type, entry: dict[str, Any]) -> str:
    section: dict[str, Any] = {"facts": {}}
    if cls is LockedPackage:
        section["packages"] = {"p": entry}
    else:
        key = {PypiPin: "pypi", CondaPin: "conda", ArtifactPin: "artifacts", SystemPin: "system"}
        section[key[cls]] = [entry]
    doc = {"version": 1, "inputs": {"manifest": "m", "recipes": "r"}, "targets": {"t": section}}
    return yaml.safe_dump(doc)


def _where(cls: type, key: str) -> str:
    if cls is LockedPackage:
        return f"targets.t.packages.p.{key}"
    key_of = {PypiPin: "pypi", CondaPin: "conda", ArtifactPin: "artifacts", SystemPin: "system"}
    return f"targets.t.{key_of[cls]}[0].{key}"


CHECKED = [
    (cls, attr, sp)
    for cls in PIN_TYPES
    for attr, sp in lockfields.specs(cls)
    if sp.check is not None
]


# a name that becomes a path refuses traversal, absolute paths and line breaks; a URL (a file
# read and checked by its hash, never written) may be `../shared/x` beside the manifest, so it
# refuses what is not a URL or a clean path
HOSTILE = ["../../sentinel/keep/precious.txt", "/etc/passwd", "a\nb", "a b"]
HOSTILE_URL = ["a\nb", "a b", "builtin:../../etc/passwd", "./a/../../x", "javascript:x", ""]


def _hostile_cases() -> list[tuple[type, str, lockfields.Spec, str]]:
    out = []
    for cls, attr, sp in CHECKED:
        urlish = sp.check in (lockfields.url, lockfields.label)
        for bad in HOSTILE_URL if urlish else HOSTILE:
            if bad == "" and sp.check is lockfields.label:
                continue  # "": no recipe file
            if bad == "a b" and sp.check is lockfields.relpath:
                continue  # files inside an archive or a wheel may have spaces
            out.append((cls, attr, sp, bad))
    return out


@pytest.mark.parametrize(
    "cls,attr,sp,bad",
    _hostile_cases(),
    ids=[f"{c.__name__}.{s.key}-{b!r}" for c, _, s, b in _hostile_cases()],
)
def test_every_checked_field_refuses_hostile_values(
    cls: type, attr: str, sp: lockfields.Spec, bad: str
) -> None:
    entry = _full(cls).to_dict()
    key = sp.key or attr
    if sp.kind == "int":
        value: Any = -5
    elif sp.kind == "strs":
        value = [bad]
    elif sp.kind == "pairs":
        value = {"k": bad}
    else:
        value = bad
    entry[key] = value
    with pytest.raises(FormatError) as info:
        loads_lock(_one_entry_lock(cls, dict(entry)), "mlenv.lock")
    wheres = [p.where for p in info.value.problems]
    assert any(_where(cls, key) in w for w in wheres), wheres


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("size", 10**32, "out of range"),
        ("size", -5, "out of range"),
        ("size", 1.5, "expected an integer"),
        ("size", "1e32", "expected an integer"),
        ("size", True, "expected an integer"),
        ("strip", 33, "out of range"),
        ("strip", -1, "out of range"),
        ("extract", "rar", "not one of"),
        ("local-env", "lower", "environment variable"),
        ("sha256", "A" * 64, "sha256"),
        ("md5", "0" * 31, "md5"),
    ],
)
def test_artifact_values(key: str, value: Any, needle: str) -> None:
    entry = _full(ArtifactPin).to_dict()
    entry[key] = value
    with pytest.raises(FormatError) as info:
        loads_lock(_one_entry_lock(ArtifactPin, dict(entry)), "mlenv.lock")
    (problem,) = info.value.problems
    assert problem.where.endswith(f"targets.t.artifacts[0].{key}")
    assert needle in problem.message


def _lock_text(version: str) -> str:
    return f"version: {version}\ninputs: {{manifest: m, recipes: r}}\ntargets: {{}}\n"


@pytest.mark.parametrize("version", ["1", "1.0", "'1'"])
def test_version_one_reads_without_warning(version: str) -> None:
    assert loads_lock(_lock_text(version), "mlenv.lock").warnings == ()


@pytest.mark.parametrize("version", ["1.9", "'1.9'", "'1.12'"])
def test_newer_minor_warns(version: str) -> None:
    lock = loads_lock(_lock_text(version), "mlenv.lock")
    (warning,) = lock.warnings
    assert "newer" in warning and "mlenv.lock" in warning
    assert lock.version == 1 and "version: 1\n" in lock.dumps()


@pytest.mark.parametrize("version", ["2", "0", "'3.1'"])
def test_unknown_major_refuses(version: str) -> None:
    with pytest.raises(LockError):
        loads_lock(_lock_text(version), "mlenv.lock")


@pytest.mark.parametrize("version", ["x", "[1]", "true", "null", "-1", "1.2.3", "{a: 1}"])
def test_garbage_version_is_a_format_problem(version: str) -> None:
    with pytest.raises(FormatError) as info:
        loads_lock(_lock_text(version), "mlenv.lock")
    assert any(p.where.endswith("version") for p in info.value.problems)


def test_duplicate_keys_are_refused_with_line_and_field() -> None:
    text = "version: 1\ninputs: {manifest: m, recipes: r}\ntargets:\n  t: {facts: {}}\n  t: {}\n"
    with pytest.raises(FormatError) as info:
        loads_lock(text, "mlenv.lock")
    assert info.value.where == "mlenv.lock:5:3: targets.t"
    assert "duplicate key 't'" in info.value.message
    assert info.value.why and "line 4" in info.value.why


def test_all_problems_of_a_file_are_reported_together() -> None:
    entry = _full(ArtifactPin).to_dict()
    entry.update({"name": "/abs", "package": "../p", "size": -5, "extract": "rar"})
    with pytest.raises(FormatError) as info:
        loads_lock(_one_entry_lock(ArtifactPin, dict(entry)), "mlenv.lock")
    keys = sorted(p.where.rsplit(".", 1)[-1] for p in info.value.problems)
    assert keys == ["extract", "name", "package", "size"]


# -- writing ---------------------------------------------------------------------------------


def _small_lock(n: int) -> Lock:
    pin = PypiPin(name=f"p{n}", version="1", url="https://x/p.whl", sha256=SHA)
    section = LockTarget(name="t", facts={"n": str(n)}, pypi=(pin,))
    return Lock(manifest="m", recipes="r", targets={"t": section})


def test_concurrent_writes_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "mlenv.lock"
    locks = [_small_lock(n) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda lock: write_lock(path, lock), locks * 4))
    assert loads_lock(path.read_text(encoding="utf-8"), "x") in locks  # one whole lock
    assert [p.name for p in tmp_path.iterdir()] == ["mlenv.lock"]


def test_a_failed_write_leaves_the_old_lock_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mlenv.lock"
    write_lock(path, _small_lock(1))
    path.chmod(0o640)
    before = path.read_bytes()

    def boom(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_lock(path, _small_lock(2))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mlenv.lock"]
    assert write_lock(path, _small_lock(2)) is True
    assert path.stat().st_mode & 0o777 == 0o640  # the file keeps its mode
