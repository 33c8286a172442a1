"""Locking the conda closure of a target with py-rattler (resolver/conda.py), offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.errors import ResolutionError
from mlenv.lock import CondaPin
from mlenv.resolver.conda import lock_conda, merge_sources, virtual_packages
from mlenv.sources import CondaSource
from mlenv.target import Target


def src(*specs: str, channels: tuple[str, ...] = ("./channel",)) -> CondaSource:
    return CondaSource(channels=channels, specs=specs)


def by_name(pins: list[CondaPin]) -> dict[str, CondaPin]:
    return {p.name: p for p in pins}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_virtual_packages_come_from_the_target(target_factory: Callable[..., Target]) -> None:
    cuda = virtual_packages(target_factory())
    assert ("__cuda", "12.4", "0") in cuda
    assert ("__glibc", "2.28", "0") in cuda
    assert ("__archspec", "1", "x86_64_v3") in cuda
    assert {n for n, _, _ in cuda} >= {"__unix", "__linux"}
    cpu = virtual_packages(target_factory(cuda=None, glibc="2.17", microarch=None))
    assert not any(n == "__cuda" for n, _, _ in cpu)
    assert ("__glibc", "2.17", "0") in cpu
    assert ("__archspec", "1", "x86_64") in cpu


def test_merge_keeps_channel_order_and_drops_duplicates() -> None:
    channels, specs = merge_sources(
        [
            CondaSource(channels=("./b", "https://x/a/"), specs=("p", "q >=1")),
            CondaSource(channels=("https://x/a", "./c"), specs=("q >=1", "r")),
        ]
    )
    assert channels == ["./b", "https://x/a", "./c"]
    assert specs == ["p", "q >=1", "r"]


def test_http_channel_picks_the_newest_and_pins_url_and_sha256(
    server, project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    channel = f"{server.url}/channel"
    pins = lock_conda(
        [src("tinytool", "tinydata", channels=(channel,))],
        cuda_target,
        cache_dir=rattler_cache,
        project_dir=project,
    )
    assert [p.name for p in pins] == ["tinydata", "tinylib", "tinytool"]
    lib = by_name(pins)["tinylib"]
    assert (lib.version, lib.build, lib.subdir) == ("2.0", "0", "linux-64")
    assert lib.url == f"{channel}/linux-64/tinylib-2.0-0.tar.bz2"
    assert lib.sha256 == sha256(project / "channel/linux-64/tinylib-2.0-0.tar.bz2")
    data = by_name(pins)["tinydata"]
    assert data.subdir == "noarch"
    assert data.url == f"{channel}/noarch/tinydata-1.0-0.tar.bz2"


def test_relative_channel_gives_project_relative_urls(
    project: Path, rattler_cache: Path, cuda_target: Target, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the channel is relative to the project, not the cwd
    pins = lock_conda(
        [src("tinytool", "tinydata")], cuda_target, cache_dir=rattler_cache, project_dir=project
    )
    urls = {p.name: p.url for p in pins}
    assert urls == {
        "tinydata": "./channel/noarch/tinydata-1.0-0.tar.bz2",
        "tinylib": "./channel/linux-64/tinylib-2.0-0.tar.bz2",
        "tinytool": "./channel/linux-64/tinytool-1.0-0.tar.bz2",
    }
    assert str(tmp_path) not in json.dumps([p.to_dict() for p in pins])


def test_file_url_inside_the_project_is_made_relative(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    channel = (project / "channel").as_uri()
    pins = lock_conda(
        [src("tinylib", channels=(channel,))],
        cuda_target,
        cache_dir=rattler_cache,
        project_dir=project,
    )
    assert [p.url for p in pins] == ["./channel/linux-64/tinylib-2.0-0.tar.bz2"]


def test_lock_is_deterministic(project: Path, rattler_cache: Path, cuda_target: Target) -> None:
    sources = [src("tinytool"), src("tinydata", "tinylib")]
    first = lock_conda(sources, cuda_target, cache_dir=rattler_cache, project_dir=project)
    again = lock_conda(sources, cuda_target, cache_dir=rattler_cache, project_dir=project)
    assert first == again


def test_cuda_package_needs_a_cuda_target(
    project: Path, rattler_cache: Path, cuda_target: Target, cpu_target: Target
) -> None:
    pins = lock_conda([src("cudapkg")], cuda_target, cache_dir=rattler_cache, project_dir=project)
    assert [p.name for p in pins] == ["cudapkg"]
    # This machine has no GPU either way: the answer comes from the target alone.
    with pytest.raises(ResolutionError) as info:
        lock_conda([src("cudapkg")], cpu_target, cache_dir=rattler_cache, project_dir=project)
    err = info.value
    assert "linux-x86_64-cpu" in err.message
    assert "__cuda" in (err.why or "")
    assert "cudapkg" in (err.where or "") and "./channel" in (err.where or "")
    assert err.hint


@pytest.mark.parametrize(("glibc", "ok"), [("2.28", True), ("2.17", False)])
def test_glibc_comes_from_the_target(
    project: Path, rattler_cache: Path, target_factory: Callable[..., Target], glibc: str, ok: bool
) -> None:
    target = target_factory(glibc=glibc)
    if ok:
        pins = lock_conda([src("glibpkg")], target, cache_dir=rattler_cache, project_dir=project)
        assert [p.name for p in pins] == ["glibpkg"]
    else:
        with pytest.raises(ResolutionError, match="cannot be satisfied") as info:
            lock_conda([src("glibpkg")], target, cache_dir=rattler_cache, project_dir=project)
        assert "__glibc >=2.28" in (info.value.why or "")
        assert "__glibc=2.17" in (info.value.why or "")


@pytest.mark.parametrize(("microarch", "ok"), [("x86_64_v3", True), ("x86_64_v2", False)])
def test_archspec_carries_the_microarch(
    project: Path,
    rattler_cache: Path,
    target_factory: Callable[..., Target],
    microarch: str,
    ok: bool,
) -> None:
    target = target_factory(microarch=microarch)
    if ok:
        pins = lock_conda([src("archpkg")], target, cache_dir=rattler_cache, project_dir=project)
        assert [p.name for p in pins] == ["archpkg"]
    else:
        with pytest.raises(ResolutionError):
            lock_conda([src("archpkg")], target, cache_dir=rattler_cache, project_dir=project)


def test_prefer_keeps_an_earlier_pin_that_still_satisfies(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    old = lock_conda(
        [src("tinylib ==1.0")], cuda_target, cache_dir=rattler_cache, project_dir=project
    )
    assert by_name(old)["tinylib"].version == "1.0"
    kept = lock_conda(
        [src("tinytool")], cuda_target, cache_dir=rattler_cache, project_dir=project, prefer=old
    )
    assert by_name(kept)["tinylib"] == by_name(old)["tinylib"]
    assert by_name(kept)["tinytool"].version == "1.0"
    # A spec the earlier pin no longer satisfies wins over the preference.
    moved = lock_conda(
        [src("tinytool", "tinylib >=2")],
        cuda_target,
        cache_dir=rattler_cache,
        project_dir=project,
        prefer=old,
    )
    assert by_name(moved)["tinylib"].version == "2.0"
    # Without the preference, the newest.
    fresh = lock_conda([src("tinytool")], cuda_target, cache_dir=rattler_cache, project_dir=project)
    assert by_name(fresh)["tinylib"].version == "2.0"


def test_prefer_of_unrequested_or_vanished_packages_adds_nothing(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    prefer = [
        CondaPin(name="tinydata", version="1.0", build="0", subdir="noarch", url="x", sha256="0"),
        CondaPin(name="gone", version="9", build="0", subdir="linux-64", url="y", sha256="1"),
    ]
    pins = lock_conda(
        [src("tinylib")], cuda_target, cache_dir=rattler_cache, project_dir=project, prefer=prefer
    )
    assert [p.name for p in pins] == ["tinylib"]


def test_unknown_package_is_a_resolution_error(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    with pytest.raises(ResolutionError) as info:
        lock_conda([src("nosuch")], cuda_target, cache_dir=rattler_cache, project_dir=project)
    assert "nosuch" in (info.value.why or "")


def test_invalid_spec_is_a_resolution_error(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    with pytest.raises(ResolutionError, match="MatchSpec") as info:
        lock_conda(
            [src("tinylib >=1,<")], cuda_target, cache_dir=rattler_cache, project_dir=project
        )
    assert info.value.hint


def test_missing_channel_is_a_resolution_error(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    with pytest.raises(ResolutionError, match="cannot read the conda channels") as info:
        lock_conda(
            [src("tinylib", channels=("./nochannel",))],
            cuda_target,
            cache_dir=rattler_cache,
            project_dir=project,
        )
    assert "./nochannel" in (info.value.where or "")
    assert "repodata.json" in (info.value.hint or "")


def test_unknown_http_channel_is_a_resolution_error(
    server, project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    with pytest.raises(ResolutionError) as info:
        lock_conda(
            [src("tinylib", channels=(f"{server.url}/nochannel",))],
            cuda_target,
            cache_dir=rattler_cache,
            project_dir=project,
        )
    assert "404" in (info.value.why or "")


def test_offline_reads_the_repodata_cache_only(
    server, project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    sources = [src("tinytool", channels=(f"{server.url}/channel",))]
    with pytest.raises(ResolutionError) as info:
        lock_conda(sources, cuda_target, cache_dir=rattler_cache, project_dir=project, offline=True)
    assert "--offline" in (info.value.hint or "")
    online = lock_conda(sources, cuda_target, cache_dir=rattler_cache, project_dir=project)
    server.stop()
    offline = lock_conda(
        sources, cuda_target, cache_dir=rattler_cache, project_dir=project, offline=True
    )
    assert offline == online


def test_record_without_sha256_is_an_error(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    repodata = project / "channel/linux-64/repodata.json"
    data = json.loads(repodata.read_text())
    for record in data["packages"].values():
        record.pop("sha256", None)
    repodata.write_text(json.dumps(data))
    with pytest.raises(ResolutionError, match="no sha256"):
        lock_conda([src("tinylib")], cuda_target, cache_dir=rattler_cache, project_dir=project)


def test_target_without_conda_platform(project: Path, rattler_cache: Path) -> None:
    target = Target(name="bare", os="linux", arch="x86_64", python="3.11")
    with pytest.raises(ResolutionError, match="conda-platform"):
        lock_conda([src("tinylib")], target, cache_dir=rattler_cache, project_dir=project)


def test_no_specs_no_solve(tmp_path: Path, cuda_target: Target) -> None:
    assert lock_conda([], cuda_target, cache_dir=tmp_path / "c", project_dir=tmp_path) == []


def test_unknown_conda_platform(project: Path, rattler_cache: Path) -> None:
    target = Target(name="odd", os="linux", arch="x86_64", python="3.11", conda_platform="Linux64")
    with pytest.raises(ResolutionError, match="unknown conda-platform"):
        lock_conda([src("tinylib")], target, cache_dir=rattler_cache, project_dir=project)


def test_ambiguous_spec_says_what_was_meant(
    project: Path, rattler_cache: Path, cuda_target: Target
) -> None:
    with pytest.raises(ResolutionError) as info:
        lock_conda([src("tinylib 1.0")], cuda_target, cache_dir=rattler_cache, project_dir=project)
    assert "==1.0" in (info.value.why or "")
