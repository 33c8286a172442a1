"""What machine a measurement ran on: CPU model, cores, memory, accelerators (CONTRACTS §11).

`machine_facts(environ)` gives the `result.json` `"machine"` object and the Machines table of
`mlenv report`:

    {"cpu": "AMD EPYC 7763 64-Core Processor" | None,
     "cores": 16,                      # os.cpu_count()
     "cores_available": 8,             # only when the affinity mask allows fewer
     "memory_bytes": 134_217_728_000 | None,
     "accelerators": [{"kind": "cuda", "name": "NVIDIA H200", "memory_bytes": ...}, ...]}

Sources: Linux `/proc/cpuinfo` (`model name`; on ARM `Hardware`, else the `CPU implementer`/
`CPU part` codes) and `/proc/meminfo` (`MemTotal`); macOS `sysctl` (the only subprocess, and only
there); NVIDIA GPUs through NVML (`nvidia-ml-py`, imported only here and only when called; no NVML,
no driver or any NVML error: no accelerators). `CUDA_VISIBLE_DEVICES` in `environ` limits the GPUs
to the ones a run can see (indices or `GPU-…` UUID prefixes; empty or `-1`: none).

Every fact that cannot be read is `None` (or `[]`), never a guess. Only the standard library is
imported here; the paths read are parameters, so tests give fake `/proc` files.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")

# the keys of `machine_facts`, in the order reports show them
FACT_KEYS = ("cpu", "cores", "cores_available", "memory_bytes", "accelerators")

# `CPU implementer` codes of /proc/cpuinfo on ARM (the ones seen in servers and laptops)
_ARM_IMPLEMENTERS = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x43": "Cavium",
    "0x46": "Fujitsu",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x50": "Ampere",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}

Accelerators = Callable[[Mapping[str, str]], list[dict[str, Any]]]


def machine_facts(
    environ: Mapping[str, str],
    *,
    cpuinfo: Path = CPUINFO,
    meminfo: Path = MEMINFO,
    platform: str | None = None,
    accelerators: Accelerators | None = None,
) -> dict[str, Any]:
    """The facts of this machine (see the module doc); never raises."""
    platform = platform or sys.platform
    if platform == "darwin":
        cpu, memory = _sysctl("machdep.cpu.brand_string"), _int(_sysctl("hw.memsize"))
    else:
        cpu, memory = cpu_model(cpuinfo), memory_total(meminfo)
    facts: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count()}
    available = _affinity_count()
    if available is not None and facts["cores"] is not None and available < facts["cores"]:
        facts["cores_available"] = available
    facts["memory_bytes"] = memory
    facts["accelerators"] = (accelerators or nvml_accelerators)(environ)
    return facts


def cpu_model(cpuinfo: Path = CPUINFO) -> str | None:
    """The CPU's model name from /proc/cpuinfo (x86 `model name`; ARM `Hardware` or the
    implementer/part codes); None when the file is absent or names no model."""
    fields: dict[str, str] = {}
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if sep and value and key not in fields:
            fields[key] = value
    for key in ("model name", "Hardware", "Model", "cpu model"):
        if key in fields:
            return fields[key]
    if "CPU part" in fields:
        implementer = fields.get("CPU implementer", "").lower()
        vendor = _ARM_IMPLEMENTERS.get(implementer, f"implementer {implementer or '?'}")
        return f"{vendor} CPU part {fields['CPU part']}"
    return None


def memory_total(meminfo: Path = MEMINFO) -> int | None:
    """MemTotal of /proc/meminfo in bytes; None when unknown."""
    try:
        text = meminfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemTotal":
            parts = value.split()
            number = _int(parts[0]) if parts else None
            if number is None:
                return None
            unit = parts[1].lower() if len(parts) > 1 else ""
            return number * 1024 if unit == "kb" else number
    return None


def nvml_accelerators(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The NVIDIA GPUs NVML sees (those `CUDA_VISIBLE_DEVICES` allows); [] without NVML."""
    try:
        import pynvml  # nvidia-ml-py; imported only here
    except Exception:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device
        return []
    found: list[dict[str, Any]] = []
    try:
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(_quiet(pynvml.nvmlDeviceGetUUID, handle))
            if not _visible(environ, index, uuid):
                continue
            memory = _quiet(pynvml.nvmlDeviceGetMemoryInfo, handle)
            found.append(
                {
                    "kind": "cuda",
                    "name": _text(_quiet(pynvml.nvmlDeviceGetName, handle)),
                    "memory_bytes": int(memory.total) if memory is not None else None,
                }
            )
    except Exception:  # pynvml.NVMLError and whatever else NVML raises
        return found
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return found


def _visible(environ: Mapping[str, str], index: int, uuid: str | None) -> bool:
    chosen = environ.get("CUDA_VISIBLE_DEVICES")
    if chosen is None:
        return True
    for item in (part.strip() for part in chosen.split(",")):
        if item == "-1":  # CUDA stops at the first invalid entry
            return False
        if item.isdigit() and int(item) == index:
            return True
        if item.startswith("GPU-") and uuid and uuid.startswith(item):
            return True
    return False


def _affinity_count() -> int | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return len(getter(0))
    except OSError:
        return None


def _sysctl(name: str) -> str | None:
    try:
        done = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None


def _quiet(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
