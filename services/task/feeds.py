"""Waiting on the task unit's feeds (services.common.feeds) for a task or a run to reach a final state.

CreateTask with wait and ExecuteWorkflow without async_execution wait on a
feed, within the caller's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

import grpc

from services.common.feeds import CLOSED, Feed, Feeds, Row, budget
from services.task.model import FINAL

# The key under which a feed event that ends its subject carries the subject's row as that change left it.
FINAL_ROW: Final = "final_row"


async def wait_until_final(feeds: Feeds, key: str, load: Callable[[], Awaitable[Row]],
                           is_final: Callable[[Row], bool], context: grpc.aio.ServicerContext) -> Row:
    """The row once final, or as it is when the deadline comes near or the unit drains."""
    with feeds.subscribe(key) as feed:
        return await settle(feed, await load(), load, is_final, context)


async def settle(feed: Feed, row: Row, load: Callable[[], Awaitable[Row]], is_final: Callable[[Row], bool],
                 context: grpc.aio.ServicerContext) -> Row:
    """`row` once final, or as it is when the deadline comes near or the unit drains.

    `feed` was subscribed before `row` was read (or written), so no change after it is missed. A final
    event that carries its subject's row (FINAL_ROW) is the answer itself; any other event with a final
    status that is the last one in (a subject's final event is its last), or a lag, sends the waiter to
    storage.
    """
    if is_final(row):
        return row
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(budget(context)):
            while True:
                item = await feed.get()
                if item == CLOSED:
                    break
                if isinstance(item, dict):
                    final = item.get(FINAL_ROW)
                    if isinstance(final, dict) and is_final(final):
                        return final
                    if item.get("status") not in FINAL or feed.pending:
                        continue  # a subject's final event is its last: if more came, they tell
                row = await load()
                if is_final(row):
                    return row
    return await load()
