"""`mlenv.machine`: the facts of a machine, from /proc files the test writes."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlenv import machine
from mlenv.machine import cpu_model, machine_facts, memory_total, nvml_accelerators

X86 = """\
processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7763 64-Core Processor
flags		: fpu vme

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7763 64-Core Processor
"""
ARM_PARTS = """\
processor	: 0
BogoMIPS	: 50.00
CPU implementer	: 0x41
CPU architecture: 8
CPU part	: 0xd0c
"""
ARM_HARDWARE = "processor	: 0\nCPU part	: 0xd08\nHardware	: BCM2835\n"
MEMINFO = "MemTotal:       32768000 kB\nMemFree:         1000 kB\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def no_gpus(environ: Any) -> list[dict[str, Any]]:
    return []


@pytest.mark.parametrize(
    ("text", "model"),
    [
        (X86, "AMD EPYC 7763 64-Core Processor"),
        (ARM_PARTS, "ARM CPU part 0xd0c"),
        (ARM_HARDWARE, "BCM2835"),
        (
            "processor	: 0\nCPU implementer	: 0x99\nCPU part	: 0x1\n",
            "implementer 0x99 CPU part 0x1",
        ),
        ("processor	: 0\n", None),
    ],
)
def test_cpu_model(tmp_path: Path, text: str, model: str | None) -> None:
    assert cpu_model(write(tmp_path, "cpuinfo", text)) == model


def test_memory_total(tmp_path: Path) -> None:
    assert memory_total(write(tmp_path, "meminfo", MEMINFO)) == 32768000 * 1024
    assert memory_total(write(tmp_path, "m2", "MemFree: 1 kB\n")) is None
    assert memory_total(write(tmp_path, "m3", "MemTotal: lots kB\n")) is None
    assert memory_total(tmp_path / "absent") is None


def test_machine_facts_from_fake_files(tmp_path: Path) -> None:
    facts = machine_facts(
        {},
        cpuinfo=write(tmp_path, "cpuinfo", X86),
        meminfo=write(tmp_path, "meminfo", MEMINFO),
        platform="linux",
        accelerators=no_gpus,
    )
    assert facts["cpu"] == "AMD EPYC 7763 64-Core Processor"
    assert facts["cores"] == os.cpu_count()
    assert facts["memory_bytes"] == 32768000 * 1024
    assert facts["accelerators"] == []
    if "cores_available" in facts:  # only when the affinity mask allows fewer
        assert facts["cores_available"] < facts["cores"]
    nothing = machine_facts(
        {}, cpuinfo=tmp_path / "no", meminfo=tmp_path / "no", platform="linux", accelerators=no_gpus
    )
    assert nothing["cpu"] is None and nothing["memory_bytes"] is None


def test_fewer_cores_allowed_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    facts = machine_facts({}, cpuinfo=tmp_path / "no", platform="linux", accelerators=no_gpus)
    assert facts["cores"] == 8 and facts["cores_available"] == 2


class FakeNvml:
    """The few calls of nvidia-ml-py that `nvml_accelerators` makes, over two GPUs."""

    def __init__(self) -> None:
        self.shut = False

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA H200"

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-{h}abc"

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return SimpleNamespace(total=(h + 1) * 2**30)


def test_nvml_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    both = nvml_accelerators({})
    assert both == [
        {"kind": "cuda", "name": "NVIDIA H200", "memory_bytes": 2**30},
        {"kind": "cuda", "name": "NVIDIA H200", "memory_bytes": 2 * 2**30},
    ]
    assert fake.shut
    assert [a["memory_bytes"] for a in nvml_accelerators({"CUDA_VISIBLE_DEVICES": "1"})] == [
        2**30 * 2
    ]
    assert len(nvml_accelerators({"CUDA_VISIBLE_DEVICES": "GPU-0"})) == 1
    assert nvml_accelerators({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert nvml_accelerators({"CUDA_VISIBLE_DEVICES": "-1,0"}) == []


def test_no_nvml_means_no_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert nvml_accelerators({}) == []

    class Broken(FakeNvml):
        def nvmlInit(self) -> None:
            raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", Broken())
    assert nvml_accelerators({}) == []


def test_this_machine() -> None:
    facts = machine_facts(os.environ)
    assert set(facts) <= set(machine.FACT_KEYS)
    assert isinstance(facts["accelerators"], list)
