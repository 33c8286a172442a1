"""Wheel selection per target (pure), and one `uv pip compile` run against PyPI (network)."""

from __future__ import annotations

import re

import pytest
from packaging.tags import Tag

from mlenv.errors import ResolutionError
from mlenv.paths import builtin_recipes_dir
from mlenv.resolver.pypi import UvOptions, choose_file, compile_pypi, platform_tags, target_tags
from mlenv.target import Accelerator, Target, load_target

X86 = Target(
    name="x86",
    os="linux",
    arch="x86_64",
    python="3.11",
    libc=(("glibc", "2.28"),),
    pypi_platform="x86_64-manylinux_2_28",
)
ARM = Target(
    name="arm",
    os="linux",
    arch="aarch64",
    python="3.11",
    libc=(("glibc", "2.28"),),
    pypi_platform="aarch64-manylinux_2_28",
)
MAC = Target(
    name="mac", os="darwin", arch="arm64", python="3.12", pypi_platform="aarch64-apple-darwin"
)
WIN = Target(
    name="win", os="windows", arch="x86_64", python="3.11", pypi_platform="x86_64-pc-windows-msvc"
)


def wheel(filename: str) -> dict:
    return {
        "name": filename,
        "url": f"https://files.example/{filename}",
        "hashes": {"sha256": "0" * 64},
    }


SDIST = {
    "name": "x-1.0.tar.gz",
    "url": "https://files.example/x-1.0.tar.gz",
    "hashes": {"sha256": "1" * 64},
}
BEST = "x-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
CANDIDATES = [
    "x-1.0-cp311-cp311-manylinux_2_34_x86_64.whl",  # needs a newer glibc than the target's
    "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",  # another python
    "x-1.0-cp311-cp311-manylinux_2_28_aarch64.whl",  # another arch
    "x-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",  # another libc
    "x-1.0-cp311-cp311-win_amd64.whl",
    "x-1.0-cp311-cp311-macosx_11_0_arm64.whl",
    "x-1.0-py3-none-any.whl",  # fits, but is generic
    "x-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",  # fits (stable ABI)
    "x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",  # fits, older glibc
    BEST,
    "not a wheel name.whl",
]


def names(files: list[str]) -> dict:
    return {"name": "x", "version": "1.0", "wheels": [wheel(f) for f in files], "sdist": SDIST}


# -- platform_tags / target_tags ----------------------------------------------------------


def test_platform_tags_manylinux_x86_64() -> None:
    tags = platform_tags(X86)
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
        "manylinux_2_5_x86_64",
    } <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    assert not any("aarch64" in t or "musllinux" in t for t in tags)
    assert tags.index("manylinux_2_28_x86_64") < tags.index("manylinux_2_17_x86_64")
    assert tags.index("manylinux_2_17_x86_64") < tags.index("manylinux_2_5_x86_64")
    assert len(tags) == len(set(tags))


def test_platform_tags_other_targets() -> None:
    assert platform_tags(ARM)[0] == "manylinux_2_28_aarch64"
    assert all(t.endswith("_aarch64") for t in platform_tags(ARM))
    mac = platform_tags(MAC)
    # uv resolves macOS for deployment target 13.0: it leaves out numpy's macosx_14_0 wheels
    assert mac[0] == "macosx_13_0_arm64" and "macosx_11_0_arm64" in mac
    assert "macosx_14_0_arm64" not in mac
    assert not any(t.endswith("_x86_64") for t in mac)
    assert platform_tags(WIN) == ["win_amd64"]
    no_platform = Target(name="n", os="linux", arch="x86_64", python="3.11")
    assert platform_tags(no_platform) == []


def test_builtin_targets_platform_tags() -> None:
    for name, first in (
        ("linux-x86_64-cpu", "manylinux_2_28_x86_64"),
        ("linux-aarch64-cpu", "manylinux_2_28_aarch64"),
    ):
        target = load_target(builtin_recipes_dir() / "targets" / f"{name}.yaml")
        assert platform_tags(target)[0] == first


def test_target_tags_priorities() -> None:
    prio = target_tags(X86)
    best = prio[Tag("cp311", "cp311", "manylinux_2_28_x86_64")]
    assert best == 0
    assert prio[Tag("cp311", "cp311", "manylinux_2_17_x86_64")] > best
    assert Tag("cp311", "abi3", "manylinux_2_28_x86_64") in prio
    assert Tag("cp38", "abi3", "manylinux_2_17_x86_64") in prio
    assert prio[Tag("py3", "none", "any")] > prio[Tag("cp311", "abi3", "manylinux_2_17_x86_64")]
    assert Tag("cp312", "cp312", "manylinux_2_28_x86_64") not in prio
    assert Tag("cp311", "cp311", "manylinux_2_34_x86_64") not in prio
    assert Tag("cp311", "cp311", "win_amd64") not in prio
    mac = target_tags(MAC)
    assert Tag("cp312", "cp312", "macosx_11_0_arm64") in mac
    assert Tag("cp311", "cp311", "macosx_11_0_arm64") not in mac


# -- choose_file ---------------------------------------------------------------------------


def test_choose_the_best_wheel() -> None:
    prio = target_tags(X86)
    assert choose_file(names(CANDIDATES), prio)["name"] == BEST
    assert choose_file(names(list(reversed(CANDIDATES))), prio)["name"] == BEST


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ({BEST}, "x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        (
            {BEST, "x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"},
            "x-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        ),
        (
            {
                BEST,
                "x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "x-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            },
            "x-1.0-py3-none-any.whl",
        ),
    ],
)
def test_choose_falls_back_in_order(drop: set[str], expected: str) -> None:
    files = [f for f in CANDIDATES if f not in drop]
    assert choose_file(names(files), target_tags(X86))["name"] == expected


def test_choose_falls_back_to_the_sdist() -> None:
    unfit = [
        f
        for f in CANDIDATES
        if f not in {BEST, "x-1.0-py3-none-any.whl"} and "x86_64.manylinux2014" not in f
    ]
    assert choose_file(names(unfit), target_tags(X86)) == SDIST
    assert choose_file({"name": "x", "version": "1.0", "sdist": SDIST}, target_tags(X86)) == SDIST


def test_choose_nothing_fits() -> None:
    package = names(["x-1.0-cp311-cp311-win_amd64.whl"])
    del package["sdist"]
    assert choose_file(package, target_tags(X86)) is None
    assert choose_file({"name": "x", "version": "1.0"}, target_tags(X86)) is None


def test_choose_uses_the_url_when_a_wheel_has_no_name() -> None:
    w = {"url": f"https://files.example/{BEST}", "hashes": {"sha256": "0" * 64}}
    assert choose_file({"name": "x", "wheels": [w]}, target_tags(X86)) is w


def test_choose_for_aarch64_and_macos() -> None:
    assert choose_file(names(CANDIDATES), target_tags(ARM))["name"] == (
        "x-1.0-cp311-cp311-manylinux_2_28_aarch64.whl"
    )
    # the only macOS wheel is for cp311; the cp312 target takes the pure-Python wheel
    assert choose_file(names(CANDIDATES), target_tags(MAC))["name"] == "x-1.0-py3-none-any.whl"


def test_compile_needs_a_pypi_platform() -> None:
    target = Target(name="bare", os="linux", arch="x86_64", python="3.11")
    assert compile_pypi([], target, UvOptions(uv="uv")) == []
    with pytest.raises(ResolutionError, match="pypi-platform"):
        compile_pypi(["numpy"], target, UvOptions(uv="uv"))


def test_compile_reports_a_missing_uv() -> None:
    with pytest.raises(ResolutionError, match="cannot run uv"):
        compile_pypi(["numpy"], X86, UvOptions(uv="/nonexistent/uv"))


# -- network: one real `uv pip compile` ----------------------------------------------------


@pytest.mark.network
def test_compile_loadgen_for_x86_64_and_aarch64(tmp_path) -> None:
    uv = pytest.importorskip("uv")
    options = UvOptions(uv=uv.find_uv_bin(), cache_dir=tmp_path / "uv-cache")
    targets = builtin_recipes_dir() / "targets"
    pins = {}
    for name in ("linux-x86_64-cpu", "linux-aarch64-cpu"):
        target = load_target(targets / f"{name}.yaml")
        assert target.accelerator == Accelerator()
        pins[name] = compile_pypi(["mlcommons-loadgen==6.0.17"], target, options)
    for found in pins.values():
        loadgen = [p for p in found if p.name == "mlcommons-loadgen"]
        assert len(loadgen) == 1, found
        assert loadgen[0].version == "6.0.17"
        assert [p.name for p in found] == sorted(p.name for p in found)
        for pin in found:
            assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256), pin
            assert pin.url.startswith("https://")
    x86 = next(p for p in pins["linux-x86_64-cpu"] if p.name == "mlcommons-loadgen")
    assert x86.filename.endswith(".whl")
    assert "cp311" in x86.filename
    assert re.search(r"manylinux_2_\d+_x86_64", x86.filename), x86.filename
    arm = next(p for p in pins["linux-aarch64-cpu"] if p.name == "mlcommons-loadgen")
    assert arm.filename == "mlcommons_loadgen-6.0.17.tar.gz"  # LoadGen publishes no aarch64 wheel
