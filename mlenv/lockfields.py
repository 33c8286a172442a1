"""Each lock entry's fields declared once: the key in the file, how it is read and checked,
and how it is written (`lock.py` builds `from_dict`, `to_dict` and the allowed keys from it).

A lock may come from a stranger (a pull request, a bundle): every value that can become a
path, a URL or a line of another tool's file is checked here when the lock is loaded, with the
dotted field (`targets.x.artifacts[0].name`) in the message.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from . import names
from .yamlio import Problems, Section, join, type_name

Check = Callable[[Any], str | None]

MAX_SIZE = 2**50  # 1 PiB: larger than any artifact, small enough to refuse nonsense
MAX_STRIP = 32
EXTRACT_KINDS = ("tar", "zip")

# versions, builds, kinds, variant values: printable, no spaces, no separators
TOKEN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+!-]{0,199}")
PYPI_NAME_RE = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")  # PEP 508
SUBDIR_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_BAD_CHAR = re.compile(r"[\x00-\x20\x7f\x80-\x9f\u2028\u2029]")
_MAX_URL = 4096
_URL_SCHEMES = ("https://", "http://", "file://")


# the JSON Schema of the values each check accepts (as far as a schema can say), for
# `mlenv/schema.py`; a check without an entry accepts some strings
_SCHEMAS: dict[Check, dict[str, Any]] = {}


def _with_schema(check: Check, schema: dict[str, Any]) -> Check:
    _SCHEMAS[check] = schema
    return check


def _string(regex: re.Pattern[str]) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^(?:{regex.pattern})$"}


def check_schema(check: Check | None, kind: str = "str") -> dict[str, Any]:
    """The JSON Schema of one value that `check` accepts (kind "int": an integer)."""
    if check is not None and check in _SCHEMAS:
        return dict(_SCHEMAS[check])
    return {"type": "integer" if kind == "int" else "string"}


def _pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and regex.fullmatch(value):
            return None
        return f"{value!r} is not {what}"

    return _with_schema(check, _string(regex))


token = _pattern(TOKEN_RE, "a valid value here (letters, digits and _ . + ! -; no spaces)")
pypi_name = _pattern(PYPI_NAME_RE, "a valid PyPI project name (PEP 508)")
subdir = _pattern(SUBDIR_RE, "a conda subdir (e.g. linux-64, noarch)")
env_name = _pattern(ENV_NAME_RE, "an environment variable name ([A-Z_][A-Z0-9_]*)")
component = _with_schema(names.component_problem, _string(names.COMPONENT_RE))
relpath = names.relpath_problem


def sha256(value: Any) -> str | None:
    return names.hex_problem(value, "sha256")


def md5(value: Any) -> str | None:
    return names.hex_problem(value, "md5")


def digest(value: Any) -> str | None:
    if isinstance(value, str) and names.DIGEST_RE.fullmatch(value):
        return None
    return f"{value!r} is not a digest (sha256: and 64 lowercase hex digits)"


_with_schema(sha256, _string(names.SHA256_RE))
_with_schema(md5, _string(names.MD5_RE))
_with_schema(digest, _string(names.DIGEST_RE))


def in_range(least: int, most: int) -> Check:
    def check(value: Any) -> str | None:
        if least <= value <= most:
            return None
        return f"{value} is out of range ({least} to {most})"

    return _with_schema(check, {"type": "integer", "minimum": least, "maximum": most})


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"{value!r} is not one of {', '.join(choices)}"

    return _with_schema(check, {"type": "string", "enum": list(choices)})


def text(value: Any) -> str | None:
    """Free text that may end up in another tool's file: no control characters."""
    if isinstance(value, str) and _BAD_CHAR.search(value.replace(" ", "")) is None:
        return None
    return f"{value!r} holds a control character or a line break"


def _local_problem(rest: str, value: str) -> str | None:
    """`./a/b`, `../../a/b` (relative to the project) or `/abs/a/b`: a file read, never written."""
    if rest.startswith("/"):
        rest = rest.lstrip("/")
    else:
        rest = rest.removeprefix("./")
        while rest.startswith("../"):
            rest = rest[3:]
    if relpath(rest) is not None:
        return f"{value!r} is not a clean file name (no '.', '..' or empty segments inside)"
    return None


def local_url(value: str) -> str:
    """A path relative to the manifest folder with its `.`/`..` segments folded, as the lock
    writes it: `./recipes/models/../../../My Model.onnx` -> `../My Model.onnx`. Leading `../`
    segments stay (a file beside the project is fine, as in uv's and pixi's locks); anything
    else (a URL, `builtin:…`, an absolute path) is returned as it is."""
    if not value.startswith(("./", "../")):
        return value
    folded = posixpath.normpath(value)
    return folded if folded == ".." or folded.startswith("../") else f"./{folded}"


def _is_local(value: str) -> bool:
    return value.startswith(("./", "../", "/"))


def url(value: Any) -> str | None:
    """http(s)/file URLs, `builtin:<path>`, or a path beside the manifest (`./`, `../`; file
    names may hold spaces, never other whitespace or control characters)."""
    if not isinstance(value, str) or not value:
        return f"expected a URL, got {type_name(value)}"
    seen = value.replace(" ", "") if _is_local(value) else value
    if len(value) > _MAX_URL or _BAD_CHAR.search(seen):
        return f"{value[:80]!r} holds whitespace or a control character (or is too long)"
    if value.startswith(_URL_SCHEMES):
        return None
    if value.startswith("builtin:"):
        problem = relpath(value.removeprefix("builtin:"))
        return f"{value!r}: {problem}" if problem else None
    if _is_local(value):
        return _local_problem(value, value)
    return f"{value!r} is not an http(s)/file URL, `builtin:…`, or a path starting with ./"


def label(value: Any) -> str | None:
    """A recipe's label: `builtin:<path>` or a path relative to the manifest (or empty)."""
    if value == "":
        return None
    return url(value)


# -- declaration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """How one field is stored: `key` in the file (None: not stored in the entry itself)."""

    key: str | None
    kind: str = "str"  # str | int | strs | pairs
    required: bool = False
    check: Check | None = None
    omit_zero: bool = False  # written only when non-zero (`strip: 0` is left out)


def spec(
    key: str | None,
    *,
    kind: str = "str",
    required: bool = False,
    check: Check | None = None,
    omit_zero: bool = False,
) -> dict[str, Spec]:
    """The `metadata=` of a dataclass field: `field(default=None, metadata=spec("sha256"))`."""
    return {"lock": Spec(key=key, kind=kind, required=required, check=check, omit_zero=omit_zero)}


def specs(cls: Any) -> list[tuple[str, Spec]]:
    """(attribute, spec) of every field stored in the entry, in declaration order."""
    out = []
    for f in dataclasses.fields(cls):
        s = f.metadata.get("lock")
        if s is not None and s.key is not None:
            out.append((f.name, s))
    return out


def keys(cls: Any) -> tuple[str, ...]:
    return tuple(s.key for _, s in specs(cls) if s.key)


_EMPTY: dict[str, Any] = {"str": "", "int": 0, "strs": (), "pairs": ()}


def _checked(value: Any, check: Check | None, at: str, problems: Problems) -> bool:
    problem = check(value) if check is not None else None
    if problem:
        problems.add(at, problem)
    return problem is None


def _read(s: Section, sp: Spec, problems: Problems) -> Any:
    key = sp.key or ""
    if sp.kind == "int":
        number = s.int(key, required=sp.required)
        return number if number is None or _checked(number, sp.check, s.at(key), problems) else None
    if sp.kind == "strs":
        items = s.str_list(key, required=sp.required)
        for i, item in enumerate(items):
            _checked(item, sp.check, join(s.at(key), i), problems)
        return tuple(items)
    if sp.kind == "pairs":
        pairs = []
        for k, v in s.mapping(key, required=sp.required).items():
            at = join(s.at(key), str(k))
            if isinstance(v, bool) or not isinstance(v, str | int):
                problems.add(at, f"expected a string, got {type_name(v)}")
                continue
            if _checked(str(k), sp.check, at, problems):
                _checked(str(v), sp.check, at, problems)
            pairs.append((str(k), str(v)))
        return tuple(sorted(pairs))
    value = s.str(key, required=sp.required)
    return value if value is None or _checked(value, sp.check, s.at(key), problems) else None


def read_entry(cls: Any, raw: Any, at: str, problems: Problems, **given: Any) -> Any:
    """An instance of `cls` from one mapping of the file; every problem goes to `problems`."""
    s = Section(raw, at, problems, keys(cls))
    kwargs = dict(given)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for attr, sp in specs(cls):
        value = _read(s, sp, problems)
        f = fields[attr]
        if value is not None:
            kwargs[attr] = value
        elif f.default is MISSING and f.default_factory is MISSING:
            kwargs[attr] = _EMPTY[sp.kind]  # reported missing; the load fails anyway
    return cls(**kwargs)


def dump_entry(obj: Any) -> dict[str, Any]:
    """The stored fields of `obj` by key (empty values left to the caller to omit)."""
    out: dict[str, Any] = {}
    for attr, sp in specs(type(obj)):
        value = getattr(obj, attr)
        if sp.kind == "strs":
            value = list(value)
        elif sp.kind == "pairs":
            value = dict(value)
        elif sp.omit_zero and not value:
            value = None
        out[sp.key or attr] = value
    return out
