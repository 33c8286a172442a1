"""Downloads into the store: retries, resume (HTTP Range), progress, sha256 (or md5) checked.

A pin with a `size` bounds the read: never more than `size` bytes (+1 to notice an overflow)
are read from the server, a Content-Length beyond it is refused before reading, and a resumed
download counts the bytes it already has. An overflow is an IntegrityError (never retried) and
the partial file is removed. Without a `size`, the download is read to its end and hashed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlparse

from mlenv.errors import InstallError, IntegrityError
from mlenv.reporter import NullReporter, Reporter

from .store import CHUNK, Store, md5_file, sha256_file

if TYPE_CHECKING:
    from .httpconn import Pool

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


def _too_big(label: str, url: str, size: int, part: Path, sent: str) -> IntegrityError:
    part.unlink(missing_ok=True)
    return IntegrityError(
        f"refusing {label}: the server sent more than its pinned size of {size} bytes",
        where=url,
        why=f"the pin says size {size}; the server sent more ({sent})",
        hint="the source serves other bytes than the recipe pins: check the recipe's url and "
        "size (never edit a lock by hand), or the mirror",
        details={"artifact": label, "url": url, "size": size},
    )


def _copy_bounded(
    response: Any, out: IO[bytes], have: int, size: int | None, reporter: Reporter, label: str
) -> int:
    """Copy the body to `out`; with a `size`, stop after `size + 1` bytes in all (have included).
    Returns the number of bytes the file holds."""
    total = have
    while True:
        want = CHUNK if size is None else min(CHUNK, size + 1 - total)
        if want <= 0:
            return total
        chunk = response.read(want)
        if not chunk:
            return total
        out.write(chunk)
        total += len(chunk)
        reporter.advance(label, len(chunk))


def _fetch_http(
    url: str,
    part: Path,
    options: FetchOptions,
    reporter: Reporter,
    label: str,
    size: int | None = None,
    pool: Pool | None = None,
) -> None:
    import http.client  # only when something is downloaded: start-up stays fast

    from .httpconn import HTTPStatusError, shared_pool

    pool = pool or shared_pool()
    attempt = 0
    while True:
        try:
            _fetch_once(url, part, options, reporter, label, size, pool)
            return
        except HTTPStatusError as e:
            have = part.stat().st_size if part.exists() else 0
            if e.code == 416 and have:  # nothing left to fetch, or a stale partial file
                part.unlink(missing_ok=True)
            elif e.code < 500 and e.code != 429:
                raise InstallError(
                    f"cannot download {label}: HTTP {e.code} {e.reason}",
                    where=url,
                    hint="check the URL in the recipe, or set MLENV_MIRROR / `mirrors:` to a "
                    "reachable copy",
                ) from e
            error: Exception = e
        except (OSError, TimeoutError, http.client.HTTPException) as e:
            error = e
        attempt += 1
        if attempt > options.retries:
            raise InstallError(
                f"cannot download {label} after {attempt} attempts: {error}",
                where=url,
                hint="check the network, or use --offline with a filled store, or a mirror",
            ) from error
        time.sleep(options.backoff * (2 ** (attempt - 1)))


def _fetch_once(
    url: str,
    part: Path,
    options: FetchOptions,
    reporter: Reporter,
    label: str,
    size: int | None,
    pool: Pool,
) -> None:
    """One attempt: a GET (with a Range when a partial file is there) copied into `part`."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # a stale partial file: start over
        part.unlink()
        have = 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    with pool.open(url, headers, options.timeout) as response:
        status = getattr(response, "status", 200)
        if have and status != 206:  # the server ignored the range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if size is not None and total is not None and total > size:
            raise _too_big(label, url, size, part, f"Content-Length says {total} bytes")
        reporter.start(label, total)
        if have:
            reporter.advance(label, have)
        with part.open("ab" if have else "wb") as out:
            got = _copy_bounded(response, out, have, size, reporter, label)
        if size is not None and got > size:
            raise _too_big(label, url, size, part, f"at least {got} bytes")
        if total is not None and part.stat().st_size < total:
            raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")
    reporter.done(label)


def fetch_to_store(
    store: Store,
    url: str,
    *,
    sha256: str | None,
    md5: str | None = None,
    label: str,
    options: FetchOptions,
    reporter: Reporter | None = None,
    size: int | None = None,
    pool: Pool | None = None,
) -> tuple[Path, str]:
    """Make sure the bytes at `url` are in the store; returns (object path, sha256).

    With a sha256 the store is consulted first (no network when present); an md5-only
    artifact is downloaded, checked against the md5, and stored by its computed sha256.
    With a `size`, no more than `size` bytes are read (a larger source is an IntegrityError).
    Connections are kept alive and reused (`envs/httpconn.py`): those of `pool`, or without
    one the process's shared pool (one connection per host per thread).
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
            _fetch_http(source, part, options, reporter, label, size, pool)
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
            actual_size = local.stat().st_size
            if size is not None and actual_size > size:
                raise IntegrityError(
                    f"refusing {label}: {local} holds {actual_size} bytes, more than its "
                    f"pinned size of {size}",
                    where=url,
                    hint="check the recipe's url and size, or the mirror",
                    details={"artifact": label, "url": url, "size": size},
                )
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


DOWNLOAD_WORKERS = 6  # parallel downloads (each a thread with its own connections)


@dataclass(frozen=True, kw_only=True)
class FetchJob:
    """One `fetch_to_store` call, to run beside others (`fetch_all`)."""

    url: str
    sha256: str | None
    label: str
    md5: str | None = None
    size: int | None = None


class _SerialReporter:
    """A reporter that several download threads share: one call at a time reaches it."""

    def __init__(self, inner: Reporter) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any) -> Any:
            with self._lock:
                return method(*args)

        return call


def fetch_all(
    store: Store,
    jobs: Sequence[FetchJob],
    *,
    options: FetchOptions,
    reporter: Reporter | None = None,
    workers: int = DOWNLOAD_WORKERS,
) -> list[tuple[Path, str]]:
    """`fetch_to_store` for every job, up to `workers` at a time; results in the jobs' order.
    On a failure the downloads not yet started are cancelled and the first failure (in the
    jobs' order) is raised; it names its URL, and its bytes never enter the store."""
    from .httpconn import Pool

    shared = _SerialReporter(reporter or NullReporter())
    pool = Pool()  # each worker thread reuses its connection to a host across its jobs

    def one(job: FetchJob) -> tuple[Path, str]:
        return fetch_to_store(
            store,
            job.url,
            sha256=job.sha256,
            md5=job.md5,
            label=job.label,
            options=options,
            reporter=cast(Reporter, shared),
            size=job.size,
            pool=pool,
        )

    try:
        return _run_jobs(jobs, one, workers)
    finally:
        pool.close()


def _run_jobs(
    jobs: Sequence[FetchJob], one: Callable[[FetchJob], tuple[Path, str]], workers: int
) -> list[tuple[Path, str]]:
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    if len(jobs) <= 1 or workers <= 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as executor:
        futures = [executor.submit(one, j) for j in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()  # those not yet started; running ones finish
        wait(futures)
        for f in futures:
            error = None if f.cancelled() else f.exception()
            if error is not None:
                raise error
        return [f.result() for f in futures]
