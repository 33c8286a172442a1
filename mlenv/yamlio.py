"""YAML reading (C loader when present) with file/line locations for errors, and checked access.

Models never open files: loaders call `read_yaml` and hand the data to `from_dict` together
with a `Problems` collector that knows how to turn a dotted field path into `file:line`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import FormatError, Problem

try:  # the C loader is several times faster; fall back silently where libyaml is absent
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (YAML would silently keep the last one)."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", again)
        self.key = key
        self.first = first
        self.again = again


class _Loader(_Base):
    """The safe loader, refusing duplicate keys (every file mlenv reads goes through it)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # unhashable: the base constructor says so
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKey(key, first, key_node.start_mark)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise FormatError(f"file not found: {path}", hint="check the path") from e
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or str(e)
        raise FormatError(
            f"cannot read {path}: {why}", hint="name a readable UTF-8 text file there"
        ) from e


def parse_yaml(text: str, label: str) -> Any:
    """Parse YAML text; syntax errors become a FormatError naming `label:line:column`."""
    try:
        return yaml.load(text, Loader=_Loader)
    except DuplicateKey as e:
        line, col = e.again.line + 1, e.again.column + 1
        dotted = node_path(text, e.again)
        raise FormatError(
            f"duplicate key {e.key!r}" + (f" at {dotted}" if dotted else ""),
            where=f"{label}:{line}:{col}" + (f": {dotted}" if dotted else ""),
            why=f"the key is given twice (first at line {e.first.line + 1}); "
            "which one counts would be a guess",
            hint="keep one of them",
        ) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        raise FormatError(
            f"malformed YAML: {e.problem or e}",
            where=where,
            hint="fix the YAML syntax (indentation, quotes, a missing ':')",
        ) from e
    except yaml.YAMLError as e:
        raise FormatError(f"malformed YAML: {e}", where=label) from e


def read_yaml(path: Path, label: str | None = None) -> tuple[Any, str]:
    text = read_text(path)
    return parse_yaml(text, label or str(path)), text


def node_path(text: str, mark: yaml.Mark) -> str | None:
    """The dotted path (`targets.x.artifacts[0].name`) of the key starting at `mark`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    where = (mark.line, mark.column)
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                sub = join(path, str(k.value)) if isinstance(k, yaml.ScalarNode) else path
                if (k.start_mark.line, k.start_mark.column) == where:
                    return sub
                stack.append((v, sub))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, join(path, i)) for i, v in enumerate(node.value))
    return None


def locate_line(text: str, dotted: str) -> int | None:
    """The 1-based line of the node at `dotted` (e.g. `versions[2].requires`), or its nearest
    existing parent; None when the text cannot be composed. A key may itself hold dots (a sweep
    file's `axes.benchmark.threads`): at each level the longest key that `dotted` continues with
    wins."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line, rest = node.start_mark.line + 1, dotted
    while rest:
        if rest.startswith("[") and isinstance(node, yaml.SequenceNode):
            index, _, rest = rest[1:].partition("]")
            if not index.isdigit() or int(index) >= len(node.value):
                break
            node = node.value[int(index)]
            line, rest = node.start_mark.line + 1, rest.removeprefix(".")
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        hits = [
            (k, v)
            for k, v in node.value
            if isinstance(k, yaml.ScalarNode)
            and (rest == k.value or rest.startswith((k.value + ".", k.value + "[")))
        ]
        if not hits:
            break
        k, node = max(hits, key=lambda kv: len(kv[0].value))
        line, rest = k.start_mark.line + 1, rest[len(k.value) :].removeprefix(".")
    return line


class Problems:
    """Collects every problem of one file, then raises them together."""

    def __init__(self, label: str, text: str | None = None) -> None:
        self.label = label
        self.text = text
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def problems(self) -> list[Problem]:
        out = []
        for path, message in self.items:
            line = locate_line(self.text, path) if self.text is not None and path else None
            where = f"{self.label}:{line}" if line else self.label
            out.append(Problem(where=f"{where}: {path}" if path else where, message=message))
        return out

    def raise_if_any(self, what: str, hint: str | None = None) -> None:
        if self.items:
            n = len(self.items)
            raise FormatError(
                f"{what} {self.label} has {n} problem{'s' if n > 1 else ''}",
                problems=self.problems(),
                hint=hint,
            )


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Section:
    """Checked access to one mapping of a file: unknown keys are reported, types are checked."""

    def __init__(
        self, data: Any, path: str, problems: Problems, allowed: Iterator[str] | tuple[str, ...]
    ) -> None:
        self.path = path
        self.problems = problems
        self.ok = isinstance(data, Mapping)
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if not self.ok:
            problems.add(path, f"expected a mapping, got {type_name(data)}")
            return
        allowed_set = set(allowed)
        for key in self.data:
            if key not in allowed_set:
                known = ", ".join(sorted(allowed_set))
                problems.add(join(path, str(key)), f"unknown key {key!r} (known keys: {known})")

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def at(self, key: str) -> str:
        return join(self.path, key)

    def str(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required and self.ok:
                self.problems.add(self.at(key), f"missing required key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problems.add(self.at(key), f"expected a string, got {type_name(value)}")
            return default
        if isinstance(value, float):
            self.problems.add(self.at(key), unquoted_number(value))
            return default
        return str(value)

    def int(
        self, key: builtins.str, *, required: bool = False, default: int | None = None
    ) -> int | None:
        if key not in self.data or self.data[key] is None:
            if required and self.ok:
                self.problems.add(self.at(key), f"missing required key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self.at(key), f"expected an integer, got {type_name(value)}")
            return default
        return value

    def list(self, key: builtins.str, *, required: bool = False) -> list[Any]:
        if key not in self.data or self.data[key] is None:
            if required and self.ok:
                self.problems.add(self.at(key), f"missing required key {key!r}")
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.problems.add(self.at(key), f"expected a list, got {type_name(value)}")
            return []
        return value

    def str_list(self, key: builtins.str, *, required: bool = False) -> builtins.list[builtins.str]:
        out = []
        for i, item in enumerate(self.list(key, required=required)):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.problems.add(
                    join(self.at(key), i), f"expected a string, got {type_name(item)}"
                )
            elif isinstance(item, float):
                self.problems.add(join(self.at(key), i), unquoted_number(item))
            else:
                out.append(str(item))
        return out

    def mapping(self, key: builtins.str, *, required: bool = False) -> dict[builtins.str, Any]:
        if key not in self.data or self.data[key] is None:
            if required and self.ok:
                self.problems.add(self.at(key), f"missing required key {key!r}")
            return {}
        value = self.data[key]
        if not isinstance(value, Mapping):
            self.problems.add(self.at(key), f"expected a mapping, got {type_name(value)}")
            return {}
        return dict(value)


def unquoted_number(value: float) -> str:
    """YAML reads `3.10` as the number 3.1: versions and other text must be quoted."""
    return f"YAML reads this as the number {value!r}; quote it (e.g. '{value}') so it stays text"


def type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "list": "a list",
        "dict": "a mapping",
    }.get(type(value).__name__, type(value).__name__)
