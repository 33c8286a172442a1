"""How mlenv runs uv: never with uv's own configuration, only with what mlenv decides.

Every uv command mlenv runs gets `--no-config` (no `uv.toml`, no `[tool.uv]` of a parent
`pyproject.toml`, no user or system config) and an environment built from an allow-list of the
caller's (`uv_environ`): what uv needs to reach an index at all (PATH, HOME, temp folders,
locale, cache folders, proxies, certificates, index credentials) and no other `UV_*` variable,
so `UV_INDEX_URL`, `UV_EXCLUDE_NEWER`, `UV_PYTHON`, `UV_CONSTRAINT`, … in a shell cannot change
what a lock pins. What may change it is the manifest's `pypi-options:` (`PypiOptions`, part of
the manifest's digest, so of the lock's inputs), given to uv as flags.

`MLENV_PYPI_INDEX_URL` names a stand-in for PyPI (a mirror or a proxy of it; the tests' local
index) used when the manifest names no `index-url`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INDEX_URL_VAR = "MLENV_PYPI_INDEX_URL"
NO_CONFIG = "--no-config"  # uv >= 0.6.15 for every flag mlenv passes (pyproject's floor)

_ALLOWED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "TMP",
        "TEMP",
        "LANG",
        "LANGUAGE",
        "UV_CACHE_DIR",
        "XDG_CACHE_HOME",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "UV_NATIVE_TLS",
        "NETRC",
        # Windows: what a process needs to start and reach the network there
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "COMSPEC",
        "PATHEXT",
    }
)
_ALLOWED_RE = re.compile(r"LC_[A-Z_]+|UV_INDEX_[A-Z0-9_]+_(?:USERNAME|PASSWORD)")
# set by mlenv itself on every call: uv uses the interpreters mlenv names, never downloads one
_FIXED = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}


def uv_environ(environ: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The environment of a uv command: the allow-listed part of `environ`, mlenv's fixed
    settings, then `extra` (e.g. VIRTUAL_ENV="")."""
    out = {k: v for k, v in environ.items() if k in _ALLOWED or _ALLOWED_RE.fullmatch(k)}
    out.update(_FIXED)
    out.update(extra)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PypiOptions:
    """The manifest's `pypi-options:`: where uv looks for packages and up to when."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    exclude_newer: str | None = None  # an RFC 3339 date or timestamp

    def to_dict(self) -> dict[str, Any]:
        """The keys that are set, as the manifest writes them (for its digest)."""
        out: dict[str, Any] = {}
        if self.index_url is not None:
            out["index-url"] = self.index_url
        if self.extra_index_urls:
            out["extra-index-urls"] = list(self.extra_index_urls)
        if self.exclude_newer is not None:
            out["exclude-newer"] = self.exclude_newer
        return out

    def flags(self, environ: Mapping[str, str]) -> list[str]:
        """uv's flags for these options (`environ` gives MLENV_PYPI_INDEX_URL only)."""
        out: list[str] = []
        index = self.index_url or environ.get(INDEX_URL_VAR) or None
        if index:
            out += ["--index-url", index]
        for url in self.extra_index_urls:
            out += ["--extra-index-url", url]
        if self.exclude_newer:
            out += ["--exclude-newer", self.exclude_newer]
        return out
