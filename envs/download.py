"""Downloads into the store: retries, resume (HTTP Range), progress, sha256 (or md5) checked."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlenv.errors import InstallError, IntegrityError
from mlenv.reporter import NullReporter, Reporter

from .store import CHUNK, Store, md5_file, sha256_file

USER_AGENT = "mlenv (+https://pypi.org/project/mlenv/)"


@dataclass(frozen=True, kw_only=True)
class FetchOptions:
    offline: bool = False
    mirrors: Mapping[str, str] = field(default_factory=dict)  # URL prefix -> replacement
    retries: int = 4
    timeout: float = 60.0
    backoff: float = 0.5


def apply_mirrors(url: str, mirrors: Mapping[str, str]) -> str:
    for prefix in sorted(mirrors, key=len, reverse=True):
        if url.startswith(prefix):
            return mirrors[prefix] + url[len(prefix) :]
    return url


def _fetch_http(
    url: str, part: Path, options: FetchOptions, reporter: Reporter, label: str
) -> None:
    import urllib.error  # only when something is downloaded: start-up stays fast
    import urllib.request

    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=options.timeout) as response:
                status = getattr(response, "status", 200)
                if have and status != 206:  # the server ignored the range: start over
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length and length.isdigit() else None
                reporter.start(label, total)
                if have:
                    reporter.advance(label, have)
                with part.open("ab" if have else "wb") as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        reporter.advance(label, len(chunk))
                if total is not None and part.stat().st_size < total:
                    raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")
            reporter.done(label)
            return
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # nothing left to fetch, or a stale partial file
                part.unlink(missing_ok=True)
            elif e.code < 500 and e.code != 429:
                raise InstallError(
                    f"cannot download {label}: HTTP {e.code} {e.reason}",
                    where=url,
                    hint="check the URL in the recipe, or set MLENV_MIRROR / `mirrors:` to a reachable copy",
                ) from e
            error: Exception = e
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            error = e
        attempt += 1
        if attempt > options.retries:
            raise InstallError(
                f"cannot download {label} after {attempt} attempts: {error}",
                where=url,
                hint="check the network, or use --offline with a filled store, or a mirror",
            ) from error
        time.sleep(options.backoff * (2 ** (attempt - 1)))


def fetch_to_store(
    store: Store,
    url: str,
    *,
    sha256: str | None,
    md5: str | None = None,
    label: str,
    options: FetchOptions,
    reporter: Reporter | None = None,
) -> tuple[Path, str]:
    """Make sure the bytes at `url` are in the store; returns (object path, sha256).

    With a sha256 the store is consulted first (no network when present); an md5-only
    artifact is downloaded, checked against the md5, and stored by its computed sha256.
    """
    reporter = reporter or NullReporter()
    key = sha256 or f"md5-{md5}"
    with store.lock(key):
        if sha256 is None and md5:
            sha256_known = store.sha256_for_md5(md5)
            if sha256_known is not None:
                return store.verified(sha256_known, label), sha256_known
        if sha256 and store.has(sha256):
            return store.verified(sha256, label), sha256
        if options.offline and urlparse(url).scheme in ("http", "https"):
            raise InstallError(
                f"{label} is not in the store and --offline forbids downloading it",
                where=url,
                hint="run once without --offline to fill the store, or use `mlenv pack` bundles",
            )
        part = store.temp_path(key)  # kept across failures so the next attempt resumes
        source = apply_mirrors(url, options.mirrors)
        parsed = urlparse(source)
        if parsed.scheme in ("http", "https"):
            _fetch_http(source, part, options, reporter, label)
            local, move = part, True
        else:
            local = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
            if not local.is_file():
                raise InstallError(
                    f"cannot find {label} at {local}",
                    where=url,
                    hint="check the recipe's url or the mirror",
                )
            move = False
        if sha256 is None:
            actual_md5 = md5_file(local)
            if actual_md5 != md5:
                if move:
                    local.unlink(missing_ok=True)
                raise IntegrityError(
                    f"md5 mismatch for {label}",
                    why=f"expected md5 {md5}\n     got md5 {actual_md5}",
                    hint="check the recipe's md5 or the mirror",
                    details={"artifact": label, "expected": md5, "actual": actual_md5},
                )
            sha256 = sha256_file(local)
            path = store.add(local, sha256, label, move=move)
            store.remember_md5(str(md5), sha256)
            return path, sha256
        return store.add(local, sha256, label, move=move), sha256
