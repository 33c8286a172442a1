"""Edit `mlenv.yaml` text in place, keeping every comment, blank line, key order and the
user's formatting (`mlenv add` / `mlenv remove`). Pure text -> text: no I/O.

The text is composed with PyYAML to find where each key, list and item sits (its marks), and
only those spans are rewritten; everything else is copied byte for byte. Every result is parsed
with the real manifest loader before it is returned, so an edit never yields an invalid manifest.
"""

from __future__ import annotations

import difflib
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from .errors import FormatError, RequirementError, UsageError
from .manifest import Manifest
from .requirement import parse_requirement
from .yamlio import Problems, parse_yaml

RECIPES_FOLDER = "./recipes"
_LABEL = "mlenv.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEdit:
    text: str
    added: tuple[str, ...] = ()  # manifest lines added
    removed: tuple[str, ...] = ()  # manifest lines removed
    kept: tuple[tuple[str, str, str], ...] = ()  # (key, the user's value, the value not set)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


class _Doc:
    """The top-level mapping of a manifest text, with the marks of its keys and values."""

    def __init__(self, text: str, label: str) -> None:
        self.text = text
        self.nl = "\r\n" if "\r\n" in text else "\n"
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            parse_yaml(text, label)  # raises the loader's located FormatError
            raise
        if not isinstance(root, yaml.MappingNode):
            raise FormatError(
                "the manifest is not a mapping of keys",
                where=label,
                hint="start from `mlenv init`",
            )
        self.root = root
        self.pairs = {k.value: (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)}

    def value(self, key: str) -> yaml.Node | None:
        pair = self.pairs.get(key)
        return pair[1] if pair else None

    def line_end(self, index: int) -> int:
        """The index just past the newline ending the line that holds `index` (or the end)."""
        pos = self.text.find("\n", index)
        return len(self.text) if pos < 0 else pos + 1

    def line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def insert_lines(self, after: int, lines: Sequence[str]) -> str:
        """The text with `lines` inserted after the line holding index `after`."""
        at = self.line_end(after)
        head = self.text[:at]
        block = self.nl.join(lines)
        if head and not head.endswith("\n"):  # the last line had no newline: keep it so
            return head + self.nl + block
        return head + block + self.nl + self.text[at:]

    def append_lines(self, lines: Sequence[str]) -> str:
        text = self.text
        if not text.strip():
            return self.nl.join(lines) + self.nl
        if not text.endswith("\n"):
            return text + self.nl + self.nl.join(lines)
        return text + self.nl.join(lines) + self.nl


def _plain_ok(value: str, flow: bool) -> bool:
    probe = f"[{value}]" if flow else f"- {value}"
    try:
        return yaml.safe_load(probe) == [value]
    except yaml.YAMLError:
        return False


def render_scalar(value: str, *, flow: bool) -> str:
    """`value` as a YAML scalar: plain where that reads back the same, else double-quoted."""
    return value if _plain_ok(value, flow) else json.dumps(value)


def _lines_diff(before: str, after: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    a, b = before.splitlines(), after.splitlines()
    added: list[str] = []
    removed: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            removed.extend(a[i1:i2])
            added.extend(b[j1:j2])
    return tuple(added), tuple(removed)


def check_manifest(text: str, label: str = _LABEL) -> Manifest:
    """Parse `text` with the real manifest loader (a located FormatError when invalid)."""
    data = parse_yaml(text, label)
    problems = Problems(label, text)
    manifest = Manifest.from_dict(data, problems)
    problems.raise_if_any("manifest", hint="see the manifest format in README.md (CONTRACTS §1)")
    return manifest


def _valid(text: str) -> bool:
    try:
        check_manifest(text)
    except FormatError:
        return False
    return True


def _result(before: str, after: str, kept: Sequence[tuple[str, str, str]] = ()) -> ManifestEdit:
    """The edit, once the real loader accepts `after` (a manifest that was invalid before the
    edit may stay so: the loader names its problems when it is used)."""
    if not _valid(after) and _valid(before):
        check_manifest(after)  # raises, naming what the edit broke
    added, removed = _lines_diff(before, after)
    return ManifestEdit(text=after, added=added, removed=removed, kept=tuple(kept))


def _req_name(text: str) -> str:
    return parse_requirement(text.strip()).name


def _items(node: yaml.Node | None) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.SequenceNode):
        return [n for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def _list_shape(doc: _Doc, key: str) -> yaml.Node | None:
    node = doc.value(key)
    if node is None or isinstance(node, yaml.SequenceNode):
        return node
    if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null"):
        return node  # `key:` with nothing after it
    raise FormatError(
        f"`{key}:` is not a list",
        where=f"{_LABEL}:{node.start_mark.line + 1}",
        hint=f"write `{key}:` as a list (`- item` lines or `[a, b]`)",
    )


def _append_item(doc: _Doc, key: str, value: str) -> str:
    """The text with `value` added at the end of list `key` (created when absent)."""
    node = _list_shape(doc, key)
    if node is None:
        return doc.append_lines([f"{key}:", f"  - {render_scalar(value, flow=False)}"])
    if not isinstance(node, yaml.SequenceNode):  # `key:` and no value
        key_node = doc.pairs[key][0]
        return doc.insert_lines(
            key_node.end_mark.index, [f"  - {render_scalar(value, flow=False)}"]
        )
    text = doc.text
    if node.flow_style:
        items = node.value
        close = text.rindex("]", node.start_mark.index, node.end_mark.index)
        rendered = render_scalar(value, flow=True)
        if not items:
            return text[:close] + rendered + text[close:]
        at = items[-1].end_mark.index
        return text[:at] + ", " + rendered + text[at:]
    last = node.value[-1]
    start = doc.line_start(last.start_mark.index)
    line = text[start : last.start_mark.index]
    dash = line.rfind("-")
    indent = line[:dash] if dash >= 0 else "  "
    return doc.insert_lines(last.end_mark.index, [f"{indent}- {render_scalar(value, flow=False)}"])


def _replace_item(doc: _Doc, node: yaml.SequenceNode, item: yaml.ScalarNode, value: str) -> str:
    text = doc.text
    rendered = render_scalar(value, flow=bool(node.flow_style))
    return text[: item.start_mark.index] + rendered + text[item.end_mark.index :]


def _drop_item(doc: _Doc, node: yaml.SequenceNode, item: yaml.ScalarNode) -> str:
    text = doc.text
    items = node.value
    i = items.index(item)
    if node.flow_style:
        if i + 1 < len(items):
            return text[: item.start_mark.index] + text[items[i + 1].start_mark.index :]
        if i > 0:
            return text[: items[i - 1].end_mark.index] + text[item.end_mark.index :]
        return text[: item.start_mark.index] + text[item.end_mark.index :]
    start = doc.line_start(item.start_mark.index)
    end = doc.line_end(item.end_mark.index)
    if end == len(text) and not text.endswith("\n") and start > 0:
        start -= 2 if text[start - 2 : start] == "\r\n" else 1  # keep "no trailing newline"
    return text[:start] + text[end:]


def _parsed(reqs: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for req in reqs:
        try:
            out.append((parse_requirement(req.strip(), where="the command line").name, req.strip()))
        except RequirementError as e:
            raise UsageError(
                f"not a requirement: {req!r}", why=f"{e.message}\n{e.why or ''}".strip(),
                hint="e.g. `onnxruntime >=1.17` or `resnet50[precision=int8]`",
            ) from e  # fmt: skip
    return out


def add_requirements(text: str, reqs: Sequence[str]) -> ManifestEdit:
    """Add each requirement to `requires:`; one of the same name already there is replaced."""
    after = text
    for name, req in _parsed(reqs):
        doc = _Doc(after, _LABEL)
        node = _list_shape(doc, "requires")
        same = [i for i in _items(node) if _safe_name(i.value) == name]
        if isinstance(node, yaml.SequenceNode) and same:
            if same[0].value.strip() == req:
                continue
            after = _replace_item(doc, node, same[0], req)
        else:
            after = _append_item(doc, "requires", req)
    return _result(text, after)


def ensure_requirements(text: str, reqs: Sequence[str]) -> ManifestEdit:
    """Add each requirement whose name `requires:` does not list yet (others are left as the
    user wrote them)."""
    have = set(requirement_names(text))
    missing = [req for name, req in _parsed(reqs) if name not in have]
    return add_requirements(text, missing) if missing else ManifestEdit(text=text)


def _safe_name(value: str) -> str | None:
    try:
        return _req_name(value)
    except RequirementError:
        return None


def requirement_names(text: str) -> list[str]:
    """The names in `requires:`, in order."""
    return [n for i in _items(_Doc(text, _LABEL).value("requires")) if (n := _safe_name(i.value))]


def remove_requirements(text: str, names: Sequence[str]) -> ManifestEdit:
    """Remove the requirement of each name; a name not in `requires:` is a UsageError."""
    after = text
    for raw in names:
        name = _parsed([raw])[0][0]
        doc = _Doc(after, _LABEL)
        node = _list_shape(doc, "requires")
        same = [i for i in _items(node) if _safe_name(i.value) == name]
        if not isinstance(node, yaml.SequenceNode) or not same:
            listed = ", ".join(requirement_names(after)) or "none"
            raise UsageError(
                f"{name} is not in requires:",
                where=_LABEL,
                why=f"requires: lists {listed}",
                hint="name one of those",
            )
        if len(node.value) == 1:
            raise UsageError(
                f"cannot remove {name}: it is the only requirement",
                where=_LABEL,
                why="a manifest lists at least one requirement",
                hint="add another requirement first (`mlenv add NAME`)",
            )
        after = _drop_item(doc, node, same[0])
    return _result(text, after)


def _same_folder(a: str, b: str) -> bool:
    return posixpath.normpath(a.strip()) == posixpath.normpath(b)


def ensure_recipes(text: str, folder: str = RECIPES_FOLDER) -> ManifestEdit:
    """`recipes:` lists `folder` (added after `name:` when the key is absent)."""
    doc = _Doc(text, _LABEL)
    node = _list_shape(doc, "recipes")
    if any(_same_folder(i.value, folder) for i in _items(node)):
        return ManifestEdit(text=text)
    if node is None and "name" in doc.pairs:
        name_value = doc.pairs["name"][1]
        after = doc.insert_lines(name_value.end_mark.index, [f"recipes: [{folder}]"])
    else:
        after = _append_item(doc, "recipes", folder)
    return _result(text, after)


def set_benchmark(text: str, values: Mapping[str, str]) -> ManifestEdit:
    """Set each `benchmark.<key>` that is absent (creating `benchmark:`); a value the user set
    is never overwritten: it is reported in `kept` instead."""
    doc = _Doc(text, _LABEL)
    node = doc.value("benchmark")
    if node is None:
        lines = [
            "benchmark:",
            *(f"  {k}: {render_scalar(v, flow=False)}" for k, v in values.items()),
        ]
        return _result(text, doc.append_lines(lines)) if values else ManifestEdit(text=text)
    if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null"):
        key_node = doc.pairs["benchmark"][0]
        lines = [f"  {k}: {render_scalar(v, flow=False)}" for k, v in values.items()]
        return _result(text, doc.insert_lines(key_node.end_mark.index, lines))
    if not isinstance(node, yaml.MappingNode):
        raise FormatError(
            "`benchmark:` is not a mapping",
            where=f"{_LABEL}:{node.start_mark.line + 1}",
            hint="write `benchmark:` as a mapping of model, dataset, backend, …",
        )
    have = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    kept = []
    missing = {}
    for key, value in values.items():
        if key not in have:
            missing[key] = value
        elif getattr(have[key], "value", None) != value:
            kept.append((key, str(getattr(have[key], "value", "?")), value))
    if not missing:
        return ManifestEdit(text=text, kept=tuple(kept))
    return _result(text, _add_keys(doc, node, missing), kept)


def _add_keys(doc: _Doc, node: yaml.MappingNode, values: Mapping[str, str]) -> str:
    text = doc.text
    if node.flow_style:
        close = text.rindex("}", node.start_mark.index, node.end_mark.index)
        body = ", ".join(f"{k}: {render_scalar(v, flow=True)}" for k, v in values.items())
        sep = ", " if node.value else ""
        at = node.value[-1][1].end_mark.index if node.value else close
        return text[:at] + sep + body + text[at:]
    if not node.value:
        return text
    first_key = node.value[0][0]
    indent = " " * first_key.start_mark.column
    last_value = node.value[-1][1]
    end = _node_last_index(last_value)
    lines = [f"{indent}{k}: {render_scalar(v, flow=False)}" for k, v in values.items()]
    return doc.insert_lines(end, lines)


def _node_last_index(node: yaml.Node) -> int:
    """The index just before the end of `node`'s last scalar (block collections end at the
    next token, past trailing comments; their last scalar does not)."""
    while (
        isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        and node.value
        and not node.flow_style
    ):
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return max(node.end_mark.index - 1, node.start_mark.index)
