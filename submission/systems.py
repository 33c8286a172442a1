"""`systems/<system>.json`: what the recorded runs say about the machine (`machine`: CPU model,
cores, memory, accelerators; `target.facts`: OS and libc; `backend`: the framework), then what
the user supplies (`--system FILE`) for what no run can know (status, storage, cooling, …).
Fields MLPerf wants non-empty that are still empty are listed; a test submission fills them
with a placeholder and says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .rules import MEANINGFUL_FIELDS, STATUSES, SYSTEM_FIELDS, SYSTEM_TYPES

PLACEHOLDER = "TBD (mlenv test submission)"
TEST_CHOICES = {"status": "available", "system_type": "edge"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemDescription:
    name: str
    fields: dict[str, Any]
    missing: tuple[str, ...]  # non-empty fields nobody supplied (filled with placeholders in test)
    detected: tuple[str, ...]  # fields mlenv filled from the runs


def detected_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What one recorded result document says about its machine and software."""
    machine, target, backend = (_mapping(doc.get(k)) for k in ("machine", "target", "backend"))
    facts = _mapping(target.get("facts"))
    out: dict[str, Any] = {"number_of_nodes": "1"}
    if machine.get("cpu"):
        out["host_processor_model_name"] = str(machine["cpu"])
    if isinstance(machine.get("cores"), int):
        out["host_processor_core_count"] = str(machine["cores"])
    if isinstance(machine.get("memory_bytes"), int):
        out["host_memory_capacity"] = f"{machine['memory_bytes'] / 2**30:.0f} GB"
    accelerators = machine.get("accelerators")
    if isinstance(accelerators, list):
        out.update(_accelerators(accelerators))
    if backend.get("name"):
        framework = f"{backend['name']} {backend.get('version') or ''}".strip()
        if backend.get("provider") not in (None, "", "none"):
            framework += f" ({backend['provider']})"
        out["framework"] = framework
    if facts.get("os"):
        libc = _mapping(facts.get("libc"))
        libcs = ", ".join(f"{k} {v}" for k, v in sorted(libc.items()))
        out["operating_system"] = f"{facts['os']} {facts.get('arch') or ''}".strip() + (
            f" ({libcs})" if libcs else ""
        )
    stack = [f"Python {facts['python']}"] if facts.get("python") else []
    stack.append("mlenv (environment pinned by mlenv.lock in src/)")
    if doc.get("lock"):
        stack.append(f"lock {doc['lock']}")
    out["other_software_stack"] = "; ".join(stack)
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _accelerators(found: list[Any]) -> dict[str, Any]:
    if not found:
        none = "N/A"
        return {
            "accelerators_per_node": "0",
            "accelerator_model_name": none,
            "accelerator_memory_capacity": none,
            "accelerator_host_interconnect": none,
            "accelerator_memory_configuration": none,
            "accelerator_interconnect": none,
        }
    names = [a.get("name") if isinstance(a, Mapping) else str(a) for a in found]
    out: dict[str, Any] = {"accelerators_per_node": str(len(found))}
    if all(names):
        out["accelerator_model_name"] = ", ".join(sorted(set(map(str, names))))
    memory = [_mapping(a).get("memory_bytes") for a in found]
    sizes = [m for m in memory if isinstance(m, int)]
    if sizes and len(sizes) == len(memory):
        out["accelerator_memory_capacity"] = f"{max(sizes) / 2**30:.0f} GB"
    return out


def describe(
    doc: Mapping[str, Any],
    supplied: Mapping[str, Any],
    *,
    name: str,
    division: str,
    submitter: str,
    test: bool,
) -> SystemDescription:
    """The systems JSON of the machine that recorded `doc`; supplied values win over detected."""
    detected = detected_fields(doc)
    fields: dict[str, Any] = dict.fromkeys(SYSTEM_FIELDS, "")
    fields.update(detected)
    fields.update({k: v for k, v in supplied.items() if v is not None})
    fields.update(division=division, submitter=submitter, system_name=name)
    missing = tuple(k for k in MEANINGFUL_FIELDS if str(fields.get(k, "")).strip() == "")
    if test:
        for key in missing:
            fields[key] = TEST_CHOICES.get(key, PLACEHOLDER)
    return SystemDescription(
        name=name,
        fields=fields,
        missing=missing,
        detected=tuple(k for k in detected if k not in supplied),
    )


def field_problems(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for every required field that is absent, empty or not allowed."""
    out = [(k, "is missing") for k in SYSTEM_FIELDS if k not in fields]
    out += [
        (k, "is empty")
        for k in MEANINGFUL_FIELDS
        if k in fields and str(fields[k] if fields[k] is not None else "").strip() == ""
    ]
    status = str(fields.get("status") or "").lower()
    if status and status not in STATUSES:
        out.append(("status", f"is {status!r}, not one of {', '.join(STATUSES)}"))
    kind = fields.get("system_type")
    if kind and kind not in SYSTEM_TYPES:
        out.append(("system_type", f"is {kind!r}, not one of {', '.join(SYSTEM_TYPES)}"))
    return out
