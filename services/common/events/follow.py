"""A unit's feed of the hub's events: open, read, and open again after any failure, with backoff.

`follow_hub` watches the admin unit's EventService under the unit's service
token (every tenant's events when `all_tenants`) and hands each event to
`on_event`. A failure (the hub restarting, a token refused) is logged once per
cause and the feed is opened again, from `since()` when given, so a consumer
that stores its position resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, common_pb2

from services.common.servicecreds import ServiceCredentials

log = logging.getLogger("agentmesh.events")
RETRY = (0.2, 5.0)  # first and longest pause before the feed is opened again


async def follow_hub(
    hub: grpc.aio.Channel,
    credentials: ServiceCredentials,
    patterns: Sequence[str],
    on_event: Callable[[common_pb2.Event], Awaitable[None]],
    *,
    name: str,
    all_tenants: bool = True,
    since: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Run until cancelled."""
    stub = admin_pb2_grpc.EventServiceStub(hub)
    delay, said = RETRY[0], ""
    while True:
        call = None
        try:
            request = admin_pb2.WatchEventsRequest(patterns=list(patterns), all_tenants=all_tenants,
                                                   since_id=await since() if since is not None else "")
            call = stub.WatchEvents(request, metadata=await credentials.metadata())
            async for reply in call:
                if said:  # said once the feed delivers, not when it opens: a refusal opens and fails at once
                    log.info("%s: following the hub again", name)
                    said = ""
                delay = RETRY[0]
                await on_event(reply.event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the hub away, a token refused: try again until it is back
            reason = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
            if reason != said:
                log.info("%s: not following the hub (%s); trying again", name, reason)
                said = reason
        finally:
            if call is not None:
                call.cancel()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY[1])
