"""Waiting in tests for something that happens in the background: a unit's worker, a lease's renewal."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

import grpc


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, within: float = 5.0) -> None:
    """Return once `check` (plain or async) is true; fail naming `what` after `within` seconds. A check whose
    call to a unit fails (the unit still starting, or away) counts as not yet."""
    deadline = time.monotonic() + within
    while True:
        try:
            met = check()
            if await met if inspect.isawaitable(met) else met:
                return
        except grpc.aio.AioRpcError:
            pass
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)
