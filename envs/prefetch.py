"""Download a lock section's wheels and artifact files into the store several at a time, before
the environment is built (the build then finds each in the store)."""

from __future__ import annotations

import contextlib
from urllib.parse import urlparse

from mlenv.errors import InstallError, IntegrityError
from mlenv.lock import LockTarget

from .artifacts import ArtifactContext, is_folder, source_of
from .download import FetchJob, apply_mirrors, fetch_all


def prefetch(section: LockTarget, ctx: ArtifactContext) -> None:
    """Download the section's wheels and artifact files into the store, several at a time
    (`fetch_all`), before the environment is built; building then finds each in the store.
    Only http(s) sources are fetched here: local files and folders are placed as before."""
    jobs = [
        FetchJob(url=p.url, sha256=p.sha256, label=p.filename, size=p.size) for p in section.pypi
    ]
    for pin in section.artifacts:
        if pin.url and not pin.local_env and not is_folder(pin):
            label = f"artifact {pin.name} of {pin.package}"
            jobs.append(
                FetchJob(
                    url=source_of(pin, ctx),
                    sha256=pin.sha256,
                    md5=pin.md5,
                    label=label,
                    size=pin.size,
                )
            )
    web = [
        j
        for j in jobs
        if urlparse(apply_mirrors(j.url, ctx.options.mirrors)).scheme in ("http", "https")
    ]
    if len(web) > 1:
        # best effort: the in-order build meets any failure where it always did
        with contextlib.suppress(InstallError, IntegrityError):
            fetch_all(ctx.store, web, options=ctx.options, reporter=ctx.reporter)
