"""Energy and peak memory of a run: RAPL from a powercap-shaped folder the tests write (package
zones with subzones, an mmio duplicate, a psys zone, counter wraps), NVML through a stand-in
`pynvml`, and the harness child's peak RSS through os.wait4."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.ops.energy import Energy, EnergySampler, NvmlMeter, RaplMeter, default_meters
from mlenv.ops.memory import peak_rss_bytes, wait_with_rusage

S = 1_000_000_000  # ns in a second
J = 1_000_000  # uJ in a joule
WRAP_UJ = 50 * J  # the fake packages' max_energy_range_uj: small, so the tests cross it


class Powercap:
    """A powercap sysfs shaped like a two-socket Intel machine: the device tree under
    `devices/` (subzones inside their package zone) and the flat class view of symlinks."""

    def __init__(self, base: Path) -> None:
        self.devices = base / "devices" / "virtual" / "powercap"
        self.root = base / "class" / "powercap"  # what RaplMeter reads
        self.root.mkdir(parents=True)
        self.zones: dict[str, Path] = {}
        for control in ("intel-rapl", "intel-rapl-mmio"):
            (self.devices / control).mkdir(parents=True)
            (self.devices / control / "enabled").write_text("1\n")
            (self.root / control).symlink_to(self.devices / control)
        self.zone("intel-rapl:0", "package-0", WRAP_UJ)
        self.zone("intel-rapl:0:0", "core", 262_143_328_850, parent="intel-rapl:0")
        self.zone("intel-rapl:0:1", "uncore", 262_143_328_850, parent="intel-rapl:0")
        self.zone("intel-rapl:1", "package-1", WRAP_UJ)
        self.zone("intel-rapl:1:0", "dram", 65_712_999_613, parent="intel-rapl:1")
        self.zone("intel-rapl:2", "psys", 262_143_328_850)  # the platform: packages included
        self.zone("intel-rapl-mmio:0", "package-0", WRAP_UJ, control="intel-rapl-mmio")

    def zone(
        self, zone: str, name: str, wrap: int, *, parent: str | None = None, control: str = ""
    ) -> None:
        folder = (self.zones[parent] if parent else self.devices / (control or "intel-rapl")) / zone
        folder.mkdir()
        (folder / "name").write_text(name + "\n")
        (folder / "max_energy_range_uj").write_text(f"{wrap}\n")
        (folder / "energy_uj").write_text("0\n")
        (self.root / zone).symlink_to(folder)
        self.zones[zone] = folder

    def set(self, zone: str, uj: int) -> None:
        """Write a counter the way the kernel shows it: whole, and wrapped past its range."""
        folder = self.zones[zone]
        wrap = int((folder / "max_energy_range_uj").read_text())
        temporary = folder / ".energy_uj.tmp"
        temporary.write_text(f"{uj % wrap}\n")
        os.replace(temporary, folder / "energy_uj")

    def advance_all(self, uj: dict[str, int]) -> None:
        """Packages at the given counts; every other zone moves too (they must not count)."""
        for zone, value in uj.items():
            self.set(zone, value)
        bulk = sum(uj.values())
        for zone in ("intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1:0", "intel-rapl:2"):
            self.set(zone, 7 * bulk)
        self.set("intel-rapl-mmio:0", uj.get("intel-rapl:0", 0) + 12345)


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def powercap(tmp_path: Path) -> Powercap:
    return Powercap(tmp_path)


@pytest.fixture
def no_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError


class NVMLError(Exception):
    pass


def fake_pynvml(readings_mj: list[int], *, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.state = {"shutdown": 0}  # type: ignore[attr-defined]

    def energy_of(handle: int) -> int:
        if fail:
            raise NVMLError("Not Supported")
        return readings_mj[handle]

    def shutdown() -> None:
        module.state["shutdown"] += 1

    module.nvmlInit = lambda: None  # type: ignore[attr-defined]
    module.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: len(readings_mj)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    module.nvmlDeviceGetTotalEnergyConsumption = energy_of  # type: ignore[attr-defined]
    return module


# --- RAPL zones ---------------------------------------------------------------------------


def test_only_package_zones_are_read(powercap: Powercap) -> None:
    meter = RaplMeter(powercap.root)
    assert meter.zones == ("intel-rapl:0", "intel-rapl:1")  # no subzones, psys or mmio
    powercap.advance_all({"intel-rapl:0": 3 * J, "intel-rapl:1": 4 * J})
    assert meter.readable()
    assert meter.read_uj() == {"intel-rapl:0": 3 * J, "intel-rapl:1": 4 * J}
    assert meter.wrap_uj("intel-rapl:0") == WRAP_UJ


def test_amd_naming_is_read(tmp_path: Path) -> None:
    zone = tmp_path / "amd-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("1000\n")
    (zone / "energy_uj").write_text("10\n")
    (tmp_path / "amd-rapl:0:0").mkdir()  # a subzone: skipped without being read
    meter = RaplMeter(tmp_path)
    assert meter.readable() and meter.read_uj() == {"amd-rapl:0": 10}


def test_sampler_gives_the_window_energy_across_a_wrap(powercap: Powercap) -> None:
    clock = Clock()
    sampler = EnergySampler([RaplMeter(powercap.root)], interval_s=3600, clock=clock)
    pkg0, pkg1 = 40 * J, 0  # package 0 at 10 J/s wraps past 50 J at t=1 s
    powercap.advance_all({"intel-rapl:0": pkg0, "intel-rapl:1": pkg1})
    with sampler:  # one sample on entering (t=0) ...
        for second in (1, 2, 3):
            pkg0 += 10 * J
            pkg1 += 20 * J
            powercap.advance_all({"intel-rapl:0": pkg0, "intel-rapl:1": pkg1})
            clock.now = second * S
            sampler.sample()
        powercap.advance_all({"intel-rapl:0": pkg0 + 10 * J, "intel-rapl:1": pkg1 + 20 * J})
        clock.now = 4 * S
    # ... and one on leaving (t=4 s)
    assert int((powercap.zones["intel-rapl:0"] / "energy_uj").read_text()) < 40 * J  # wrapped
    whole = sampler.energy_between(0, 4 * S)
    assert whole is not None and whole.source == "rapl"
    assert whole.joules == pytest.approx(4 * 30)
    middle = sampler.energy_between(S // 2, 5 * S // 2)  # interpolated at both edges
    assert middle is not None and middle.joules == pytest.approx(2 * 30)
    assert sampler.energy_between(-1, 2 * S) is None  # starts before the first sample
    assert sampler.energy_between(S, 4 * S + 1) is None  # ends after the last one
    assert sampler.energy_between(2 * S, 2 * S) is None  # an empty window


def test_sampler_thread_follows_counters_that_wrap(powercap: Powercap) -> None:
    rate = 40 * J  # uJ per second on each package, from 30 J: past 50 J at 0.5 s, then 1.75 s
    stop = threading.Event()
    t0 = time.monotonic_ns()

    def kernel() -> None:  # the counters as RAPL keeps them, moved every 2 ms
        while not stop.is_set():
            uj = 30 * J + rate * (time.monotonic_ns() - t0) // S
            powercap.advance_all({"intel-rapl:0": uj, "intel-rapl:1": uj})
            time.sleep(0.002)

    writer = threading.Thread(target=kernel, daemon=True)
    writer.start()
    try:
        with EnergySampler([RaplMeter(powercap.root)], interval_s=0.02) as sampler:
            time.sleep(0.15)
            start = time.monotonic_ns()
            time.sleep(1.2)
            end = time.monotonic_ns()
            time.sleep(0.15)
    finally:
        stop.set()
        writer.join()
    got = sampler.energy_between(start, end)
    assert got is not None and got.source == "rapl"
    expected = 2 * rate * (end - start) / S / J
    assert got.joules == pytest.approx(expected, rel=0.1)  # the wraps neither lost nor doubled
    assert sum(sampler.sample_counts()) >= 20


def test_samples_are_thinned_but_still_cover_the_run(powercap: Powercap) -> None:
    clock = Clock()
    sampler = EnergySampler([RaplMeter(powercap.root)], interval_s=3600, max_samples=8, clock=clock)
    for second in range(100):
        clock.now = second * S
        powercap.advance_all({"intel-rapl:0": second * 3 * J, "intel-rapl:1": second * J})
        sampler.sample()
    assert sampler.sample_counts()[0] <= 9
    got = sampler.energy_between(0, 99 * S)
    assert got is not None and got.joules == pytest.approx(99 * 4)
    assert sampler.energy_between(10 * S, 20 * S) is not None


# --- nothing readable: no figure ----------------------------------------------------------


def test_no_zones_is_not_readable(tmp_path: Path, no_pynvml: None) -> None:
    assert not RaplMeter(tmp_path).readable()
    assert not RaplMeter(tmp_path / "absent").readable()
    assert default_meters({"MLENV_POWERCAP_ROOT": str(tmp_path)}) == []
    with EnergySampler(default_meters({"MLENV_POWERCAP_ROOT": str(tmp_path)})) as sampler:
        start = time.monotonic_ns()
        end = time.monotonic_ns() + 1
    assert sampler.energy_between(start, end) is None


@pytest.mark.parametrize("how", ["directory", "removed"])
def test_an_unreadable_counter_is_not_readable(powercap: Powercap, how: str) -> None:
    # the tests run as root, whom chmod 000 does not stop: break the file another way
    counter = powercap.zones["intel-rapl:1"] / "energy_uj"
    counter.unlink()
    if how == "directory":
        counter.mkdir()
    meter = RaplMeter(powercap.root)
    assert not meter.readable()  # one package unknown: no total, rather than half of one
    env = {"MLENV_POWERCAP_ROOT": str(powercap.root), "MLENV_ENERGY_METERS": "rapl"}
    assert default_meters(env) == []
    clock = Clock()
    with EnergySampler([meter], clock=clock) as sampler:
        clock.now = S
    assert sampler.energy_between(0, S) is None


def test_a_counter_that_stops_being_readable_ends_the_coverage(powercap: Powercap) -> None:
    clock = Clock()
    sampler = EnergySampler([RaplMeter(powercap.root)], interval_s=3600, clock=clock)
    sampler.sample()
    clock.now = S
    powercap.advance_all({"intel-rapl:0": J, "intel-rapl:1": J})
    sampler.sample()
    (powercap.zones["intel-rapl:0"] / "energy_uj").unlink()
    clock.now = 2 * S
    sampler.sample()  # missed
    assert sampler.energy_between(0, S) is not None
    assert sampler.energy_between(0, 2 * S) is None


def test_counters_that_do_not_move_measure_nothing(powercap: Powercap) -> None:
    clock = Clock()
    with EnergySampler([RaplMeter(powercap.root)], interval_s=3600, clock=clock) as sampler:
        clock.now = S
    assert sampler.energy_between(0, S) is None


def test_to_dict_never_reports_zero_joules() -> None:
    assert Energy(joules=2.0, source="rapl").to_dict(100) == {
        "joules": 2.0,
        "samples_per_joule": 50.0,
        "source": "rapl",
    }
    for joules in (0.0, -1.0):
        shown = Energy(joules=joules, source="rapl").to_dict(100)
        assert shown == {"joules": None, "samples_per_joule": None, "source": "rapl"}
    assert Energy(joules=2.0, source="nvml").to_dict(None)["samples_per_joule"] is None


# --- NVML -----------------------------------------------------------------------------------


def test_nvml_absent_is_not_readable(no_pynvml: None, powercap: Powercap) -> None:
    meter = NvmlMeter()
    assert not meter.readable()
    with pytest.raises(OSError):
        meter.counters_uj()
    assert default_meters({"MLENV_ENERGY_METERS": "nvml"}) == []
    env = {"MLENV_POWERCAP_ROOT": str(powercap.root)}
    assert [m.source for m in default_meters(env)] == ["rapl"]


def test_nvml_error_is_not_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_pynvml([5, 6], fail=True)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert not NvmlMeter().readable()
    assert default_meters({"MLENV_ENERGY_METERS": "nvml"}) == []
    assert module.state["shutdown"] >= 1


def test_nvml_devices_are_summed_with_rapl(
    monkeypatch: pytest.MonkeyPatch, powercap: Powercap
) -> None:
    readings = [1_000, 2_000]  # millijoules per GPU
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(readings))
    env = {"MLENV_POWERCAP_ROOT": str(powercap.root)}
    meters = default_meters(env)
    assert [m.source for m in meters] == ["rapl", "nvml"]
    clock = Clock()
    with EnergySampler(meters, interval_s=3600, clock=clock) as sampler:
        readings[0] += 5_000  # GPU 0: 5 J, GPU 1: 7 J, the packages: 3 J
        readings[1] += 7_000
        powercap.advance_all({"intel-rapl:0": 2 * J, "intel-rapl:1": J})
        clock.now = S
    got = sampler.energy_between(0, S)
    assert got == Energy(joules=pytest.approx(15.0), source="rapl+nvml")  # type: ignore[arg-type]


def test_meter_selection(powercap: Powercap, no_pynvml: None) -> None:
    env = {"MLENV_POWERCAP_ROOT": str(powercap.root)}
    assert default_meters({**env, "MLENV_ENERGY_METERS": "none"}) == []
    assert len(default_meters({**env, "MLENV_ENERGY_METERS": " rapl , nvml"})) == 1
    with pytest.raises(ValueError, match="unknown meter"):
        default_meters({"MLENV_ENERGY_METERS": "rapl,wattmeter"})


def test_a_child_reads_the_same_monotonic_clock() -> None:
    """What lets mlenv read its samples over the window the harness subprocess recorded."""
    before = time.monotonic_ns()
    out = subprocess.run(
        [sys.executable, "-c", "import time; print(time.monotonic_ns())"],
        capture_output=True,
        text=True,
        check=True,
    )
    after = time.monotonic_ns()
    assert before < int(out.stdout) < after


# --- peak memory ----------------------------------------------------------------------------

ALLOCATE = "import sys; block = b'x' * (64 << 20); sys.exit(3)"  # touches every page


def test_wait_with_rusage_reports_the_childs_peak() -> None:
    proc = subprocess.Popen([sys.executable, "-c", ALLOCATE])
    code, peak = wait_with_rusage(proc)
    assert code == 3 and proc.returncode == 3 and proc.wait() == 3
    assert peak is not None and peak >= 50 * 2**20


def test_wait_with_rusage_signal_and_timeout() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(subprocess.TimeoutExpired):
        wait_with_rusage(proc, timeout=0.1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    code, peak = wait_with_rusage(proc, timeout=10)
    assert code == -signal.SIGTERM and peak is not None and peak > 0
    assert wait_with_rusage(proc) == (-signal.SIGTERM, None)  # already reaped


def test_peak_rss_units() -> None:
    peak = peak_rss_bytes(resource.getrusage(resource.RUSAGE_SELF))
    assert peak is not None and peak > 1 << 20  # this interpreter holds more than 1 MiB


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.name.startswith("mlenv")]
    assert not left, left
