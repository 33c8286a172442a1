"""Conda and PyPI in one environment: dependency edges of both kinds of pin, and a package the
conda layer provides (a tiny `numpy`) is not pinned a second time from PyPI, nor installed a
second time by `mlenv install`."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlenv.lock import CondaPin, PypiPin
from mlenv.resolver.conda import depends_names, lock_conda
from mlenv.resolver.lockgen import not_from_conda, with_edges
from mlenv.resolver.pypi import UvOptions, compile_pypi
from mlenv.resolver.pypiedges import parse_via, pypi_edges
from mlenv.sources import CondaSource
from mlenv.target import Target

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from localpypi import Wheels, build_wheel, child_environ, start_server

SHA = "a" * 64

VIA_CASES = [
    (
        "tinyalpha==2.0  # via tinybeta\ntinybeta==1.0  # via -r r.in\n",
        {"tinybeta": ("tinyalpha",)},
    ),
    (
        "a==1  # via b, C_d\nb==1  # via -r x.in\nc-d==1  # via -c c.txt, -r x.in\n",
        {"b": ("a",), "c-d": ("a",)},
    ),
    ("x==1\n# a comment\n", {}),
]


@pytest.mark.parametrize(("text", "expected"), VIA_CASES)
def test_via_annotations_become_requires(text: str, expected: dict[str, tuple[str, ...]]) -> None:
    assert parse_via(text) == expected


DEPENDS_CASES = [
    (
        ["tinylib >=1", "__glibc >=2.17", "python 3.11.*"],
        {"tinylib", "python"},
        ("python", "tinylib"),
    ),
    (["conda-forge::numpy>=1.26", "absent 1"], {"numpy"}, ("numpy",)),
    ([], {"x"}, ()),
]


@pytest.mark.parametrize(("depends", "solved", "expected"), DEPENDS_CASES)
def test_conda_depends_name_solved_packages(
    depends: list[str], solved: set[str], expected: tuple[str, ...]
) -> None:
    assert depends_names(depends, solved) == expected


def _pypi(name: str) -> PypiPin:
    return PypiPin(name=name, version="1", url=f"https://x/{name}-1-py3-none-any.whl", sha256=SHA)


def _conda(name: str) -> CondaPin:
    return CondaPin(
        name=name, version="1", build="0", subdir="noarch", url="https://x/c", sha256=SHA
    )


def test_conda_provided_names_leave_the_pypi_pins() -> None:
    pypi = [_pypi("NumPy"), _pypi("tinyuser"), _pypi("ruamel.yaml")]
    kept = not_from_conda(pypi, [_conda("numpy"), _conda("ruamel-yaml"), _conda("python")])
    assert [p.name for p in kept] == ["tinyuser"]
    edged = with_edges(kept, {"tinyuser": ("numpy",)})
    assert edged[0].requires == ("numpy",)
    assert edged[0].to_dict()["requires"] == ["numpy"]
    assert "requires" not in _pypi("a").to_dict()  # an empty field is not written


def test_a_conda_numpy_is_not_pinned_again_from_pypi(
    project: Path,
    rattler_cache: Path,
    package_builder: Callable[..., Path],
    reindex: Callable[[Path], None],
    cpu_target: Target,
    tmp_path: Path,
) -> None:
    channel = project / "channel"
    package_builder(channel, "numpy", "1.26.0", subdir="noarch")
    package_builder(channel, "numuser", "1.0", depends=["numpy >=1.20"], subdir="noarch")
    reindex(channel)
    conda = lock_conda(
        [CondaSource(channels=("./channel",), specs=("numuser",))],
        cpu_target,
        cache_dir=rattler_cache,
        project_dir=project,
    )
    assert {p.name: p.requires for p in conda} == {"numpy": (), "numuser": ("numpy",)}

    wheels = tmp_path / "wheels"
    all_wheels = (
        build_wheel(wheels, "numpy", "1.26.0"),
        build_wheel(wheels, "tinyuser", "1.0", requires=["numpy>=1.20"]),
    )
    server = start_server(Wheels(folder=wheels, all=all_wheels))
    try:
        uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        options = UvOptions(
            uv=uv,
            index_url=server.index_url,
            cache_dir=tmp_path / "uvcache",
            environ={"PATH": os.environ.get("PATH", "")},
        )
        target = dataclasses.replace(cpu_target, pypi_platform="x86_64-manylinux_2_28")
        pypi = compile_pypi(["tinyuser"], target, options)
        assert [p.name for p in pypi] == ["numpy", "tinyuser"]
        edges = pypi_edges(["tinyuser"], pypi, target, options)
    finally:
        server.stop()
    assert edges == {"tinyuser": ("numpy",)}
    kept = not_from_conda(with_edges(pypi, edges), conda)
    assert [(p.name, p.requires) for p in kept] == [("tinyuser", ("numpy",))]


NUMUSER = """\
name: numuser
kind: framework
summary: a PyPI package on top of a numpy that the conda layer provides
versions: ["1.0"]
install:
  - conda: {channels: ["./channel"], specs: ["numpy"]}
  - pypi: ["tinyuser==1.0"]
"""


def test_install_leaves_the_conda_numpy_the_only_one(
    project: Path,
    home: Path,
    package_builder: Callable[..., Path],
    reindex: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    """`mlenv install` end to end: numpy comes from the conda layer (its files in `conda/`) and
    the venv holds no numpy of its own, though PyPI offers one and tinyuser requires it."""
    channel = project / "channel"
    package_builder(channel, "numpy", "1.26.0", subdir="noarch")
    reindex(channel)
    (project / "recipes" / "frameworks").mkdir(parents=True)
    (project / "recipes" / "frameworks" / "numuser.yaml").write_text(NUMUSER)
    (project / "mlenv.yaml").write_text("name: c\nrecipes: [./recipes]\nrequires: [numuser]\n")
    wheels = tmp_path / "wheels"
    all_wheels = (
        build_wheel(wheels, "numpy", "1.26.0"),
        build_wheel(wheels, "tinyuser", "1.0", requires=["numpy>=1.20"]),
    )
    server = start_server(Wheels(folder=wheels, all=all_wheels))
    env = child_environ(home, server)
    try:

        def mlenv(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "mlenv", *args]
            return subprocess.run(
                command, cwd=project, env=env, capture_output=True, text=True, timeout=300
            )

        resolved = mlenv("resolve")
        assert resolved.returncode == 0, resolved.stderr
        installed = mlenv("install")
        assert installed.returncode == 0, installed.stderr
    finally:
        server.stop()
    lock = yaml.safe_load((project / "mlenv.lock").read_text())
    (section,) = lock["targets"].values()
    assert [p["name"] for p in section["pypi"]] == ["tinyuser"]
    assert [c["name"] for c in section["conda"]] == ["numpy"]
    prefix = Path(installed.stdout.strip())
    assert (prefix / "conda" / "share" / "numpy" / "data.txt").is_file()
    assert len(list((prefix / "conda" / "conda-meta").glob("numpy-*.json"))) == 1
    sites = [p for p in prefix.rglob("site-packages") if "conda" not in p.relative_to(prefix).parts]
    assert sites, sorted(str(p) for p in prefix.iterdir())
    names = {d.name.split("-")[0].lower() for site in sites for d in site.glob("*.dist-info")}
    assert "tinyuser" in names and "numpy" not in names
    assert not any((site / "numpy").exists() for site in sites)
