"""Target files (CONTRACTS §3) and detection of the host."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

from mlenv.errors import FormatError
from mlenv.host import (
    conda_platform_for,
    detect_host,
    distinct_host,
    host_name,
    pypi_platform_for,
)
from mlenv.lock import Lock, LockTarget, write_lock
from mlenv.ops.project import Project
from mlenv.target import Accelerator, Target, load_target
from mlenv.yamlio import Problems

BUILTIN = ["linux-x86_64-cpu", "linux-aarch64-cpu", "linux-x86_64-cuda12", "macos-arm64"]

CONTRACT_EXAMPLE = """
name: linux-x86_64-cuda12
os: linux
arch: x86_64
microarch: x86_64_v3              # archspec name
libc: {glibc: "2.28"}
python: "3.11"
accelerator: {kind: cuda, cuda: "12.4", compute-capability: "9.0"}   # or: none
pypi-platform: x86_64-manylinux_2_28                                  # uv --python-platform
conda-platform: linux-64
"""


def test_contract_example(parse) -> None:
    target, problems = parse(Target, CONTRACT_EXAMPLE, "targets/linux-x86_64-cuda12.yaml")
    assert not problems, problems.problems()
    assert target.glibc == "2.28"
    assert target.accelerator == Accelerator(kind="cuda", cuda="12.4", compute_capability="9.0")
    assert target.facts() == {
        "os": "linux",
        "arch": "x86_64",
        "microarch": "x86_64_v3",
        "python": "3.11",
        "accelerator": "cuda",
        "cuda": "12.4",
        "compute-capability": "9.0",
        "libc": {"glibc": "2.28"},
        "pypi-platform": "x86_64-manylinux_2_28",
        "conda-platform": "linux-64",
    }
    assert not target.is_host


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_targets_load_and_round_trip(builtin_targets, name: str) -> None:
    target = load_target(builtin_targets / f"{name}.yaml")
    assert target.name == name
    assert target.pypi_platform and target.conda_platform
    again = Target.from_dict(target.to_dict(), Problems("dict"))
    assert again == target


def test_cpu_targets_have_no_accelerator(builtin_targets) -> None:
    target = load_target(builtin_targets / "linux-x86_64-cpu.yaml")
    assert target.accelerator == Accelerator()
    assert target.facts()["accelerator"] == "none"
    assert "cuda" not in target.facts()


def test_target_problems(parse) -> None:
    _, problems = parse(
        Target,
        """
        name: t
        os: plan9
        arch: x86_64
        libc: {glibc: "2.28", uclibc: "1"}
        accelerator: {kind: cuda}
        gpu: h100
        """,
        "t.yaml",
    )
    assert {p.where for p in problems.problems()} == {
        "t.yaml:2: os",
        "t.yaml:4: libc.uclibc",
        "t.yaml:5: accelerator.cuda",
        "t.yaml:6: gpu",
        "t.yaml:1: python",
    }


def test_unquoted_python_is_not_silently_changed(parse) -> None:
    """`python: 3.10` is the YAML float 3.1: a target for Python 3.1 would be wrong."""
    target, problems = parse(Target, "name: t\nos: linux\narch: x86_64\npython: 3.10\n")
    if not problems:
        assert target.python == "3.10"


def test_load_target_raises_all_problems(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: t\nos: beos\narch: x86_64\npython: '3.11'\ncolour: 1\n", encoding="utf-8"
    )
    with pytest.raises(FormatError) as info:
        load_target(path, label="targets/t.yaml")
    assert {p.where for p in info.value.problems} == {
        "targets/t.yaml:2: os",
        "targets/t.yaml:5: colour",
    }


# -- host detection ------------------------------------------------------------------------


def _family(microarch: str) -> str:
    import archspec.cpu

    return str(archspec.cpu.TARGETS[microarch].family.name)


def test_detect_host_on_this_machine() -> None:
    host = detect_host({})
    assert host.is_host
    assert host.python == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert host.os in ("linux", "darwin", "windows")
    if sys.platform.startswith("linux"):
        assert host.os == "linux"
        assert host.arch == platform.machine().lower().replace("amd64", "x86_64")
        assert host.glibc is None or host.glibc.startswith("2.")
        if host.glibc:
            assert host.pypi_platform and host.pypi_platform.startswith(f"{host.arch}-manylinux_2_")
    assert host.name == host_name(host.os, host.arch, host.accelerator)
    assert host.name.startswith(f"{host.os}-{host.arch}-")
    if host.arch == "x86_64":
        assert host.microarch is None or _family(host.microarch) == "x86_64"
        assert host.conda_platform == conda_platform_for(host.os, host.arch)
    facts = host.facts()
    assert facts["python"] == host.python
    assert facts["accelerator"] == host.accelerator.kind
    if host.accelerator.kind == "cuda":
        assert host.accelerator.cuda
        assert host.name.endswith("-cuda" + host.accelerator.cuda.split(".")[0])
    else:
        assert host.name.endswith("-cpu")


def test_detect_host_honours_overrides() -> None:
    env = {
        "MLENV_HOST_OS": "linux",
        "MLENV_HOST_ARCH": "aarch64",
        "MLENV_HOST_GLIBC": "2.31",
        "MLENV_HOST_CUDA": "12.4",
        "MLENV_HOST_PYTHON": "3.12",
        "MLENV_HOST_MICROARCH": "neoverse_v2",
    }
    host = detect_host(env)
    assert host.name == "linux-aarch64-cuda12"
    assert (host.os, host.arch, host.python, host.microarch) == (
        "linux",
        "aarch64",
        "3.12",
        "neoverse_v2",
    )
    assert host.glibc == "2.31"
    assert host.accelerator == Accelerator(kind="cuda", cuda="12.4")
    assert host.pypi_platform == "aarch64-manylinux_2_31"
    assert host.conda_platform == "linux-aarch64"
    assert host.facts()["cuda"] == "12.4"


def test_detect_host_cuda_none_override_and_darwin() -> None:
    host = detect_host(
        {
            "MLENV_HOST_CUDA": "none",
            "MLENV_HOST_OS": "darwin",
            "MLENV_HOST_ARCH": "arm64",
            "MLENV_HOST_MICROARCH": "m1",
        }
    )
    assert host.accelerator == Accelerator()
    assert host.name == "darwin-arm64-cpu"
    assert host.libc == ()
    assert host.pypi_platform == "aarch64-apple-darwin"
    assert host.conda_platform == "osx-arm64"


@pytest.mark.parametrize(
    ("os_name", "arch", "glibc", "expected"),
    [
        ("linux", "x86_64", "2.28", "x86_64-manylinux_2_28"),
        ("linux", "x86_64", "2.30", "x86_64-manylinux_2_28"),
        ("linux", "x86_64", "2.17", "x86_64-manylinux_2_17"),
        ("linux", "x86_64", "2.27", "x86_64-manylinux_2_17"),
        ("linux", "x86_64", "2.35", "x86_64-manylinux_2_35"),
        ("linux", "x86_64", "2.40", "x86_64-manylinux_2_40"),
        ("linux", "x86_64", "2.41", "x86_64-manylinux_2_40"),
        ("linux", "aarch64", "2.28", "aarch64-manylinux_2_28"),
        ("linux", "aarch64", "2.39", "aarch64-manylinux_2_39"),
        ("darwin", "arm64", None, "aarch64-apple-darwin"),
        ("darwin", "x86_64", None, "x86_64-apple-darwin"),
        ("windows", "x86_64", None, "x86_64-pc-windows-msvc"),
        ("freebsd", "x86_64", None, None),
    ],
)
def test_pypi_platform_for(
    os_name: str, arch: str, glibc: str | None, expected: str | None
) -> None:
    assert pypi_platform_for(os_name, arch, glibc) == expected


def test_conda_platform_and_host_name() -> None:
    assert conda_platform_for("linux", "x86_64") == "linux-64"
    assert conda_platform_for("windows", "x86_64") == "win-64"
    assert conda_platform_for("linux", "riscv64") is None
    assert host_name("linux", "x86_64", Accelerator()) == "linux-x86_64-cpu"
    assert host_name("linux", "x86_64", Accelerator(kind="rocm")) == "linux-x86_64-rocm"
    assert (
        host_name("linux", "x86_64", Accelerator(kind="cuda", cuda="12.4")) == "linux-x86_64-cuda12"
    )


# a machine with exactly the facts of recipes/targets/linux-x86_64-cpu.yaml
LIKE_THE_FILE = {
    "MLENV_HOST_OS": "linux",
    "MLENV_HOST_ARCH": "x86_64",
    "MLENV_HOST_MICROARCH": "x86_64_v2",
    "MLENV_HOST_GLIBC": "2.28",
    "MLENV_HOST_PYTHON": "3.11",
    "MLENV_HOST_CUDA": "none",
}
NEWER = {**LIKE_THE_FILE, "MLENV_HOST_GLIBC": "2.36", "MLENV_HOST_MICROARCH": "icelake"}


def test_the_host_keeps_a_name_distinct_from_a_target_file_with_other_facts(
    tmp_path: Path, builtin_targets: Path
) -> None:
    file = load_target(builtin_targets / "linux-x86_64-cpu.yaml")
    assert distinct_host(detect_host(LIKE_THE_FILE), file).name == "linux-x86_64-cpu"
    assert distinct_host(detect_host(NEWER), file).name == "linux-x86_64-cpu-host"
    assert distinct_host(detect_host(NEWER), None).name == "linux-x86_64-cpu"
    home = {"MLENV_HOME": str(tmp_path / "home")}
    same = Project.open(tmp_path, environ={**LIKE_THE_FILE, **home})
    assert same.host.name == "linux-x86_64-cpu" and same.target("host") is same.host
    project = Project.open(tmp_path, environ={**NEWER, **home})
    host = project.host
    assert host.name == "linux-x86_64-cpu-host" and host.is_host and host.glibc == "2.36"
    # the file keeps its name and facts; both can be locked side by side
    assert project.target("linux-x86_64-cpu").glibc == "2.28"
    assert project.target("linux-x86_64-cpu-host") is host
    names = [t.name for t in project.targets(["host", "linux-x86_64-cpu"])]
    assert names == ["linux-x86_64-cpu-host", "linux-x86_64-cpu"]
    # no built-in file of its name (a CUDA 11 host): the plain name
    cuda11 = Project.open(tmp_path, environ={**NEWER, **home, "MLENV_HOST_CUDA": "11.8"})
    assert cuda11.host.name == "linux-x86_64-cuda11"


def _write_old_lock(path: Path, facts: dict[str, object]) -> None:
    section = LockTarget(name="linux-x86_64-cpu", facts=facts)
    lock = Lock(
        manifest="sha256:" + "0" * 64,
        recipes="sha256:" + "f" * 64,
        targets={"linux-x86_64-cpu": section},
    )
    write_lock(path, lock)


def test_a_lock_section_named_like_the_host_with_its_facts_is_still_used(
    tmp_path: Path,
) -> None:
    """A lock written before the rename (the host's section under the plain name) goes on
    working: the host keeps the plain name while that section's facts are this machine's."""
    _write_old_lock(tmp_path / "mlenv.lock", detect_host(NEWER).facts())
    project = Project.open(tmp_path, environ=NEWER)
    assert project.host.name == "linux-x86_64-cpu"
    lock = project.lock()
    assert project.lock_section(lock, None).name == "linux-x86_64-cpu"
    assert project.lock_section(lock, "host").name == "linux-x86_64-cpu"
    # the section is the file's (its facts are not this machine's): the host is renamed
    file_facts = detect_host(LIKE_THE_FILE).facts()
    _write_old_lock(tmp_path / "mlenv.lock", file_facts)
    assert Project.open(tmp_path, environ=NEWER).host.name == "linux-x86_64-cpu-host"
    # an unreadable lock names nothing
    (tmp_path / "mlenv.lock").write_text("targets:\n  linux-x86_64-cpu: [\n", encoding="utf-8")
    assert Project.open(tmp_path, environ=NEWER).host.name == "linux-x86_64-cpu-host"
