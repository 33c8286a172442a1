"""The lock file (CONTRACTS §5): versioned, gated, deterministic, byte-identical round trip."""

from __future__ import annotations

import dataclasses
import operator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.errors import FormatError, LockError
from mlenv.lock import (
    HEADER,
    LOCK_VERSION,
    ArtifactPin,
    CondaPin,
    Lock,
    LockedPackage,
    LockTarget,
    PypiPin,
    SystemPin,
    load_lock,
    loads_lock,
    write_lock,
)

SHA = "0123456789abcdef" * 4


def sample_target(name: str = "linux-x86_64-cpu") -> LockTarget:
    return LockTarget(
        name=name,
        facts={
            "os": "linux",
            "arch": "x86_64",
            "microarch": "x86_64_v2",
            "python": "3.11",
            "accelerator": "none",
            "libc": {"glibc": "2.28"},
            "pypi-platform": "x86_64-manylinux_2_28",
        },
        packages={
            "onnxruntime": LockedPackage(
                name="onnxruntime",
                kind="framework",
                version="1.20.1",
                recipe="sha256:" + SHA,
                file="builtin:frameworks/onnxruntime.yaml",
                variants=(("device", "cpu"),),
                requires=("numpy", "python"),
            ),
            "python": LockedPackage(
                name="python", kind="runtime", version="3.11", recipe="sha256:" + SHA, file=""
            ),
            "digits-mlp": LockedPackage(
                name="digits-mlp",
                kind="model",
                version="1",
                recipe="sha256:" + SHA,
                file="./recipes/models/digits-mlp.yaml",
            ),
        },
        pypi=(
            PypiPin(
                name="onnxruntime",
                version="1.20.1",
                url="https://f.example/ort.whl",
                sha256=SHA,
                size=123,
            ),
            PypiPin(name="numpy", version="2.1.3", url="https://f.example/np.whl", sha256=SHA),
        ),
        conda=(
            CondaPin(
                name="gcc",
                version="13.2",
                build="h1_0",
                subdir="linux-64",
                url="https://c.example/gcc.conda",
                sha256=SHA,
            ),
        ),
        artifacts=(
            ArtifactPin(
                name="model.onnx",
                package="digits-mlp",
                url="./recipes/models/model.onnx",
                sha256=SHA,
                size=10,
            ),
            ArtifactPin(
                name="resnet50.tar.gz",
                package="resnet50",
                url="https://zenodo.org/r.tar.gz",
                md5="f" * 32,
                extract="tar",
                strip=1,
                path="resnet50.onnx",
            ),
            ArtifactPin(
                name="IMAGENET_DIR", package="imagenet", local_env="IMAGENET_DIR", tree_sha256=SHA
            ),
            ArtifactPin(
                name="digits.csv.gz",
                package="digits",
                url="https://f.example/sk.whl",
                sha256=SHA,
                member="sklearn/datasets/data/digits.csv.gz",
                member_sha256=SHA,
            ),
        ),
        system=(SystemPin(name="gcc", version="12.2.0", package="gcc"),),
    )


def sample_lock() -> Lock:
    return Lock(
        manifest="sha256:" + SHA,
        recipes="sha256:" + "f" * 64,
        targets={"linux-x86_64-cpu": sample_target(), "macos-arm64": sample_target("macos-arm64")},
    )


def test_round_trip_is_byte_identical() -> None:
    text = sample_lock().dumps()
    again = loads_lock(text, "mlenv.lock")
    assert again.dumps() == text
    assert again.targets["linux-x86_64-cpu"].digest() == sample_target().digest()
    assert again.targets["linux-x86_64-cpu"].packages == sample_target().packages
    assert again.targets["linux-x86_64-cpu"].pypi == tuple(
        sorted(sample_target().pypi, key=lambda p: p.name)
    )


def test_dump_shape() -> None:
    text = sample_lock().dumps()
    assert text.startswith(HEADER)
    data = yaml.safe_load(text)
    assert data["version"] == LOCK_VERSION == 1
    assert list(data) == ["version", "inputs", "targets"]
    assert list(data["targets"]) == ["linux-x86_64-cpu", "macos-arm64"]
    section = data["targets"]["linux-x86_64-cpu"]
    assert list(section) == ["facts", "packages", "pypi", "conda", "artifacts", "system"]
    assert list(section["packages"]) == ["digits-mlp", "onnxruntime", "python"]
    assert [p["name"] for p in section["pypi"]] == ["numpy", "onnxruntime"]
    assert [a["package"] for a in section["artifacts"]] == [
        "digits",
        "digits-mlp",
        "imagenet",
        "resnet50",
    ]
    assert section["packages"]["onnxruntime"] == {
        "file": "builtin:frameworks/onnxruntime.yaml",
        "kind": "framework",
        "recipe": "sha256:" + SHA,
        "requires": ["numpy", "python"],
        "variants": {"device": "cpu"},
        "version": "1.20.1",
    }
    assert section["facts"]["python"] == "3.11"  # a string, never the float 3.11
    assert section["packages"]["python"]["version"] == "3.11"
    # one entry per line
    assert (
        "\n      onnxruntime: {file: 'builtin:frameworks/onnxruntime.yaml', kind: framework,"
        in text
    )
    assert "\n    - {name: gcc, package: gcc, version: 12.2.0}\n" in text
    # absent fields are not written (md5 only where there is no sha256; no nulls, no strip: 0)
    resnet = section["artifacts"][3]
    assert resnet["md5"] == "f" * 32 and "sha256" not in resnet
    assert "null" not in text
    assert "size" not in section["pypi"][0]


def test_dump_is_independent_of_input_order() -> None:
    t = sample_target()
    shuffled = dataclasses.replace(
        t,
        facts=dict(reversed(list(t.facts.items()))),
        packages=dict(reversed(list(t.packages.items()))),
        pypi=tuple(reversed(t.pypi)),
        artifacts=tuple(reversed(t.artifacts)),
    )
    a = Lock(manifest="m", recipes="r", targets={"a": t, "b": shuffled})
    b = Lock(manifest="m", recipes="r", targets={"b": t, "a": shuffled})
    assert a.dumps() == b.dumps()
    assert t.digest() == shuffled.digest()


@pytest.mark.parametrize("version", [2, "2", "2.0", 10])
def test_newer_major_version_is_refused(version) -> None:
    text = (
        sample_lock()
        .dumps()
        .replace("version: 1\n", f"version: {version!r}\n".replace("'", '"'), 1)
    )
    with pytest.raises(LockError) as info:
        loads_lock(text, "mlenv.lock")
    assert "mlenv.lock" in info.value.message
    assert "newer" in info.value.message
    assert info.value.hint


def test_newer_minor_version_is_read() -> None:
    text = sample_lock().dumps().replace("version: 1\n", "version: '1.1'\n", 1)
    assert loads_lock(text, "mlenv.lock").targets.keys() == {"linux-x86_64-cpu", "macos-arm64"}


@pytest.mark.parametrize("line", ["version: 0\n", "version: x\n", "version: null\n", ""])
def test_unknown_or_missing_version_is_refused(line: str) -> None:
    text = sample_lock().dumps().replace("version: 1\n", line, 1)
    with pytest.raises((LockError, FormatError)):
        loads_lock(text, "mlenv.lock")


def test_invalid_lock_names_every_problem() -> None:
    text = sample_lock().dumps()
    text = text.replace(
        "  linux-x86_64-cpu:\n    facts:", "  linux-x86_64-cpu:\n    extra: 1\n    facts:"
    )
    text = text.replace(
        "{name: gcc, package: gcc, version: 12.2.0}", "{name: gcc, package: gcc}", 1
    )
    with pytest.raises(FormatError) as info:
        loads_lock(text, "mlenv.lock")
    wheres = [p.where for p in info.value.problems]
    line_extra = text.splitlines().index("    extra: 1") + 1
    assert f"mlenv.lock:{line_extra}: targets.linux-x86_64-cpu.extra" in wheres
    assert any(w.endswith("targets.linux-x86_64-cpu.system[0].version") for w in wheres)
    assert "mlenv.resolve" not in str(info.value)
    assert info.value.hint and "mlenv resolve" in info.value.hint


def test_malformed_lock_yaml() -> None:
    with pytest.raises(FormatError) as info:
        loads_lock("version: 1\ninputs: {manifest: x\n", "mlenv.lock")
    assert info.value.where and info.value.where.startswith("mlenv.lock:")


def test_load_and_write_lock(tmp_path) -> None:
    path = tmp_path / "mlenv.lock"
    with pytest.raises(LockError, match="no lock file"):
        load_lock(path)
    lock = sample_lock()
    assert write_lock(path, lock) is True
    assert write_lock(path, lock) is False  # same bytes: untouched
    assert path.read_text(encoding="utf-8") == lock.dumps()
    assert load_lock(path).dumps() == lock.dumps()
    assert [p.name for p in tmp_path.iterdir()] == ["mlenv.lock"]  # no temporary file left


def test_no_host_paths_or_timestamps() -> None:
    text = sample_lock().dumps()
    assert "/tmp" not in text and "/home" not in text
    assert sample_lock().dumps() == text


# -- property: any lock section survives dump -> load -> dump unchanged ----------------------

# (regex strategies are slow to draw from; these are built from cheap parts)
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
names = st.builds(
    operator.add, st.sampled_from(_ALNUM), st.text(alphabet=_ALNUM + "._-", max_size=12)
)
versions = st.builds(
    operator.add,
    st.lists(st.integers(0, 2025), min_size=1, max_size=4).map(lambda xs: ".".join(map(str, xs))),
    st.sampled_from(["", "", "", "a1", "rc2", ".post1", ".dev0"]),
)
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
# free text: quotes, colons, flow indicators, leading spaces, numbers-as-strings, unicode letters
texts = st.one_of(
    st.text(
        alphabet=st.characters(
            codec="utf-8",
            exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
            exclude_characters="\ufeff\x85",
        ),
        max_size=30,
    ),
    st.sampled_from(
        [
            "",
            " ",
            "null",
            "~",
            "yes",
            "no",
            "on",
            "true",
            "1.10",
            "3.11",
            "0x1F",
            "1e3",
            "- a",
            "a: b",
            "#x",
            "{x}",
            "[x]",
            "'",
            '"',
            "*a",
            "&a",
            "!t",
            "%",
            "@",
            "`",
            "|",
            ">",
            "?",
            "a, b",
            "x #y",
            "12:30",
            "2024-01-01",
        ]
    ),
)
urls = st.builds(lambda n, t: f"https://files.example/{n}/{t}", names, names)
opt_int = st.none() | st.integers(min_value=0, max_value=2**40)

packages = st.builds(
    lambda name, kind, version, recipe, file, variants, requires: LockedPackage(
        name=name,
        kind=kind,
        version=version,
        recipe=recipe,
        file=file,
        variants=tuple(sorted(variants.items())),
        requires=tuple(requires),
    ),
    names,
    st.sampled_from(["compiler", "runtime", "framework", "model", "dataset", "tool"]),
    versions,
    st.builds(lambda h: "sha256:" + h, hexes),
    st.sampled_from(["", "builtin:models/a.yaml", "./recipes/models/a.yaml", "../r/x.yaml"]),
    st.dictionaries(names, names, max_size=3),
    st.lists(names, max_size=4),
)
pypi_names = names.map(lambda n: n + "z")  # PEP 508: ends with a letter or digit
pypi_pins = st.builds(
    PypiPin, name=pypi_names, version=versions, url=urls, sha256=hexes, size=opt_int
)
conda_pins = st.builds(
    CondaPin,
    name=names,
    version=versions,
    build=names,
    subdir=st.sampled_from(["noarch", "linux-64", "osx-arm64"]),
    url=urls,
    sha256=hexes,
)
artifact_pins = st.builds(
    ArtifactPin,
    name=names,
    package=names,
    url=st.none() | urls,
    sha256=st.none() | hexes,
    md5=st.none() | hexes.map(lambda h: h[:32]),
    size=opt_int,
    extract=st.none() | st.sampled_from(["tar", "zip"]),
    strip=st.none() | st.integers(0, 5),
    path=st.none() | names,
    member=st.none() | st.lists(names, min_size=1, max_size=3).map("/".join),
    member_sha256=st.none() | hexes,
    local_env=st.none() | st.sampled_from(["X", "IMAGENET_DIR", "_A1"]),
    tree_sha256=st.none() | hexes,
)
system_pins = st.builds(SystemPin, name=names, version=versions, package=names)
fact_values = st.one_of(texts, st.dictionaries(names, texts, max_size=2))
facts = st.dictionaries(
    st.sampled_from(
        [
            "os",
            "arch",
            "microarch",
            "python",
            "accelerator",
            "cuda",
            "libc",
            "pypi-platform",
            "conda-platform",
            "compute-capability",
        ]
    ),
    fact_values,
    max_size=10,
)


@st.composite
def lock_targets(draw, name: str) -> LockTarget:
    pkgs = draw(st.lists(packages, max_size=4, unique_by=lambda p: p.name))
    return LockTarget(
        name=name,
        facts=draw(facts),
        packages={p.name: p for p in pkgs},
        pypi=tuple(draw(st.lists(pypi_pins, max_size=4, unique_by=lambda p: (p.name, p.version)))),
        conda=tuple(
            draw(st.lists(conda_pins, max_size=3, unique_by=lambda p: (p.name, p.version)))
        ),
        artifacts=tuple(
            draw(st.lists(artifact_pins, max_size=4, unique_by=lambda a: (a.package, a.name)))
        ),
        system=tuple(draw(st.lists(system_pins, max_size=2, unique_by=lambda s: s.name))),
    )


@st.composite
def locks(draw) -> Lock:
    target_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    return Lock(
        manifest=draw(texts),
        recipes="sha256:" + draw(hexes),
        targets={n: draw(lock_targets(n)) for n in target_names},
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(locks())
def test_round_trip_property(lock: Lock) -> None:
    text = lock.dumps()
    again = loads_lock(text, "mlenv.lock")
    assert again.dumps() == text
    for name, section in lock.targets.items():
        assert again.targets[name].digest() == section.digest()
        assert again.targets[name].packages == section.packages
