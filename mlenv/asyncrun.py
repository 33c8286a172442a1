"""Run py-rattler's coroutines from synchronous code, safely.

py-rattler hands an awaitable's result back from a tokio thread that finishes releasing the GIL
a moment after the coroutine completes; an interpreter that exits within that moment crashes
(SIGSEGV or a "PyGILState_Release" abort). Yielding the CPU briefly closes the window. Every
rattler call of mlenv goes through here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
SETTLE_S = 0.02


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    finally:
        time.sleep(SETTLE_S)
