"""Energy of a run, read outside the benchmark environment (DESIGN, second stage, principle 5).

The mlenv process samples the machine's energy counters while the harness runs in its
subprocess; the harness records the span of its LoadGen call on CLOCK_MONOTONIC
(`result.json`'s `window_ns`), and `EnergySampler.energy_between` turns the samples around that
span into joules. CLOCK_MONOTONIC is system-wide on Linux, so `time.monotonic_ns()` in the harness
and here read the same clock.

Meters:
- `RaplMeter`: Intel/AMD RAPL through the powercap sysfs (`/sys/class/powercap`). Only the
  top-level package zones count (`intel-rapl:N` / `amd-rapl:N` whose `name` is `package-*`):
  their subzones (`intel-rapl:N:M`: core, uncore, dram) are parts of the package, `psys` covers
  the packages too, and `intel-rapl-mmio:N` is a second view of package N. Since Linux 5.10
  `energy_uj` is readable by root only; an unreadable zone makes the meter not readable.
- `NvmlMeter`: NVIDIA GPUs through NVML (`nvidia-ml-py`, imported only when used),
  `nvmlDeviceGetTotalEnergyConsumption` (millijoules since the driver loaded, Volta and later),
  summed over every device. No NVML, no GPU, or any NVML error: not readable.

An unreadable meter gives no figure at all (`None`, `null` in result.json), never 0.

Counter wraps: RAPL's `energy_uj` wraps to 0 past `max_energy_range_uj` (every few minutes to
hours, depending on the machine). A reading lower than the one before it means the counter
wrapped once between the two samples; at the sampler's 10 Hz, two wraps between two samples
would need a package drawing the whole range (typically about 262 kJ) within 0.1 s, so
they are not handled.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

POWERCAP_ROOT = Path("/sys/class/powercap")
# the powercap folder to read instead of /sys/class/powercap (tests; machines that mount sysfs
# elsewhere)
POWERCAP_ROOT_ENV = "MLENV_POWERCAP_ROOT"
# the meters to try, comma-separated, out of `rapl` and `nvml` (default: both); `none` for none
METERS_ENV = "MLENV_ENERGY_METERS"
METER_NAMES = ("rapl", "nvml")

# a top-level zone: `intel-rapl:0`, `amd-rapl:1`; not `intel-rapl:0:0` nor `intel-rapl-mmio:0`
_PACKAGE_ZONE = re.compile(r"(?:intel|amd)-rapl:\d+")


class Meter(Protocol):
    """Energy counters of one kind, in microjoules, one per zone or device."""

    @property
    def source(self) -> str: ...

    def readable(self) -> bool: ...

    def counters_uj(self) -> dict[str, int]:
        """Every zone's counter now; raises (OSError, ValueError, …) when one cannot be read."""
        ...

    def wrap_uj(self, zone: str) -> int | None:
        """The value past which `zone`'s counter wraps to 0; None for a counter that never wraps."""
        ...


class RaplMeter:
    """The RAPL package zones under a powercap folder (see the module's notes)."""

    source = "rapl"

    def __init__(self, root: Path = POWERCAP_ROOT) -> None:
        self.root = root
        self._zones: dict[str, Path] = {}
        self._ranges: dict[str, int] = {}
        self._broken = False
        try:
            entries = sorted(root.iterdir(), key=lambda p: _zone_order(p.name))
        except OSError:
            entries = []
        for folder in entries:
            if not _PACKAGE_ZONE.fullmatch(folder.name):
                continue
            try:
                name = (folder / "name").read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                self._broken = True  # a zone we cannot even name: its energy is unknown
                continue
            if not name.startswith("package"):
                continue  # psys: the whole platform, the packages included
            try:
                self._ranges[folder.name] = _read_int(folder / "max_energy_range_uj")
            except (OSError, ValueError):
                self._broken = True
                continue
            self._zones[folder.name] = folder

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(self._zones)

    def readable(self) -> bool:
        if self._broken or not self._zones:
            return False
        try:
            self.read_uj()
        except (OSError, ValueError):
            return False
        return True

    def read_uj(self) -> dict[str, int]:
        """Each package zone's `energy_uj`; raises OSError/ValueError when one is unreadable."""
        return {zone: _read_int(folder / "energy_uj") for zone, folder in self._zones.items()}

    def counters_uj(self) -> dict[str, int]:
        return self.read_uj()

    def wrap_uj(self, zone: str) -> int | None:
        return self._ranges.get(zone)


class NvmlMeter:
    """Every NVIDIA GPU's total energy counter, through NVML (see the module's notes)."""

    source = "nvml"

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._state: bool | None = None  # None: not tried yet

    def _start(self) -> bool:
        if self._state is None:
            self._state = False
            try:
                import pynvml  # nvidia-ml-py

                pynvml.nvmlInit()
            except Exception:
                return False
            try:
                count = int(pynvml.nvmlDeviceGetCount())
                self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            except Exception:
                _quietly(pynvml.nvmlShutdown)
                return False
            self._nvml = pynvml
            self._state = bool(self._handles)
            if not self._state:
                _quietly(pynvml.nvmlShutdown)
                self._nvml = None
        return self._state

    def readable(self) -> bool:
        if not self._start():
            return False
        try:
            self.read_mj()
        except Exception:
            return False
        return True

    def read_mj(self) -> dict[str, int]:
        """Each device's energy since the driver loaded, in millijoules; raises on any error."""
        if not self._start():
            raise OSError("NVML is not available")
        return {
            f"gpu{i}": int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            for i, handle in enumerate(self._handles)
        }

    def counters_uj(self) -> dict[str, int]:
        try:
            return {zone: mj * 1000 for zone, mj in self.read_mj().items()}
        except OSError:
            raise
        except Exception as e:  # pynvml.NVMLError and whatever else NVML raises
            raise OSError(f"NVML: {e}") from e

    def wrap_uj(self, zone: str) -> int | None:
        return None  # a 64-bit counter

    def close(self) -> None:
        if self._nvml is not None:
            _quietly(self._nvml.nvmlShutdown)
        self._nvml = None
        self._handles = []
        self._state = None


def default_meters(environ: Mapping[str, str]) -> list[Meter]:
    """The readable meters of this machine: RAPL (under `MLENV_POWERCAP_ROOT`, default
    /sys/class/powercap) and NVML, as `MLENV_ENERGY_METERS` (default `rapl,nvml`) selects."""
    wanted = _wanted(environ.get(METERS_ENV))
    meters: list[Meter] = []
    if "rapl" in wanted:
        root = environ.get(POWERCAP_ROOT_ENV) or str(POWERCAP_ROOT)
        rapl = RaplMeter(Path(root))
        if rapl.readable():
            meters.append(rapl)
    if "nvml" in wanted:
        nvml = NvmlMeter()
        if nvml.readable():
            meters.append(nvml)
        else:
            nvml.close()
    return meters


def _wanted(value: str | None) -> set[str]:
    if value is None or not value.strip():
        return set(METER_NAMES)
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    if names == {"none"}:
        return set()
    unknown = sorted(names - set(METER_NAMES))
    if unknown:
        raise ValueError(
            f"{METERS_ENV}: unknown meter {', '.join(unknown)} "
            f"(known: {', '.join(METER_NAMES)}, or none)"
        )
    return names


@dataclass(frozen=True, slots=True)
class Energy:
    """The energy of one timed window and the meters it came from (`rapl`, `nvml`, `rapl+nvml`)."""

    joules: float
    source: str

    def to_dict(self, samples: int | None) -> dict[str, object]:
        """result.json's `energy`: `samples_per_joule` is `samples / joules`; a window that used
        no energy is no measurement, so it reports null figures, never 0."""
        joules = self.joules if self.joules > 0 else None
        per_joule = samples / joules if joules is not None and samples is not None else None
        return {"joules": joules, "samples_per_joule": per_joule, "source": self.source}


@dataclass(frozen=True, slots=True)
class Sample:
    t_ns: int  # time.monotonic_ns()
    total_uj: int  # the meter's energy since the sampler started, wraps undone, zones summed


class _Series:
    """One meter's samples: cumulative energy over time, thinned to stay within `limit`."""

    def __init__(self, meter: Meter, limit: int, clock: Callable[[], int]) -> None:
        self.meter = meter
        self.limit = limit
        self.clock = clock
        self.samples: list[Sample] = []
        self._last: dict[str, int] = {}
        self._total = 0

    def take(self) -> None:
        before_ns = self.clock()
        try:
            now = self.meter.counters_uj()
        except Exception:
            return  # a missed sample: the next one covers the gap
        t_ns = (before_ns + self.clock()) // 2
        if self._last and set(now) != set(self._last):
            return  # zones are fixed when a meter is made; never mix two sets
        for zone, value in now.items():
            before = self._last.get(zone)
            if before is not None:
                self._total += _delta(before, value, self.meter.wrap_uj(zone))
            self._last[zone] = value
        self.samples.append(Sample(t_ns, self._total))
        if len(self.samples) > self.limit:
            # every other sample goes (the first and the newest stay): the series keeps
            # covering the whole run, at half the resolution
            kept = self.samples[::2]
            if kept[-1] is not self.samples[-1]:
                kept.append(self.samples[-1])
            self.samples = kept

    def energy_uj(self, start_ns: int, end_ns: int) -> float | None:
        samples = self.samples
        if len(samples) < 2 or start_ns < samples[0].t_ns or end_ns > samples[-1].t_ns:
            return None
        return _at(samples, end_ns) - _at(samples, start_ns)


def _delta(before: int, now: int, wrap: int | None) -> int:
    if now >= before:
        return now - before
    if wrap is None or wrap <= 0 or before > wrap:
        return 0  # a counter that restarted (a driver reload): this interval is lost
    return (wrap - before) + now  # wrapped once (module notes)


def _at(samples: Sequence[Sample], t_ns: int) -> float:
    """The cumulative energy at `t_ns`, linear between the samples around it."""
    lo, hi = 0, len(samples) - 1
    while hi - lo > 1:  # samples[lo].t_ns <= t_ns <= samples[hi].t_ns
        mid = (lo + hi) // 2
        if samples[mid].t_ns <= t_ns:
            lo = mid
        else:
            hi = mid
    a, b = samples[lo], samples[hi]
    if b.t_ns == a.t_ns:
        return float(b.total_uj)
    return a.total_uj + (b.total_uj - a.total_uj) * (t_ns - a.t_ns) / (b.t_ns - a.t_ns)


class EnergySampler:
    """Samples every meter every `interval_s` on a daemon thread while the `with` block runs.

    One sample is taken on entering and one on leaving, so any window inside the block is
    covered. Each meter keeps at most `max_samples` samples (10 Hz: about 2.8 hours before the
    first thinning; thinning halves the resolution, never the span). `clock` is
    time.monotonic_ns, the harness's clock for its `window_ns` (a test may pass its own).
    """

    def __init__(
        self,
        meters: Iterable[Meter],
        interval_s: float = 0.1,
        *,
        max_samples: int = 100_000,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if max_samples < 4:
            raise ValueError("max_samples must be at least 4")
        self.interval_s = interval_s
        self._series = [_Series(meter, max_samples, clock) for meter in meters]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def meters(self) -> tuple[Meter, ...]:
        return tuple(s.meter for s in self._series)

    def sample_counts(self) -> tuple[int, ...]:
        """How many samples each meter holds now (in the order of `meters`)."""
        with self._lock:
            return tuple(len(s.samples) for s in self._series)

    def sample(self) -> None:
        """Take one sample of every meter now (the thread calls it; so can a test)."""
        with self._lock:
            for series in self._series:
                series.take()

    def __enter__(self) -> EnergySampler:
        if self._thread is not None:
            raise RuntimeError("the sampler is already running")
        self._stop.clear()
        self.sample()
        if self._series:
            self._thread = threading.Thread(
                target=self._loop, name="mlenv-energy-sampler", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def energy_between(self, start_ns: int, end_ns: int) -> Energy | None:
        """The joules the meters counted from `start_ns` to `end_ns` (time.monotonic_ns()).

        Only meters whose samples cover the window count; None when none does, or when the
        window is empty or used no energy at all (a counter that does not move measures nothing).
        """
        if end_ns <= start_ns:
            return None
        total = 0.0
        sources: list[str] = []
        with self._lock:
            for series in self._series:
                uj = series.energy_uj(start_ns, end_ns)
                if uj is not None:
                    total += uj
                    if series.meter.source not in sources:
                        sources.append(series.meter.source)
        if not sources or total <= 0:
            return None
        return Energy(joules=total / 1e6, source="+".join(sources))


def _read_int(path: Path) -> int:
    return int(path.read_text(encoding="ascii").strip())


def _zone_order(name: str) -> tuple[str, int]:
    head, _, index = name.partition(":")
    return (head, int(index) if index.isdigit() else -1)


def _quietly(call: Any) -> None:
    with contextlib.suppress(Exception):
        call()
