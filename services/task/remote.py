"""The runner's real worker directory: the agent unit's ResolveWorkers (the model is services.common.llm).

Every call carries this unit's service token and the task owner's x-user-*
pairs (never the owner's own token), so the other unit applies the owner's
tenant, never the task unit's. An error status becomes a RemoteCallError that
says which unit answered what.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc

from services.common import contracts
from services.common.authctx import Actor
from services.common.events import LAGGED
from services.common.llm import RemoteCallError, service_metadata
from services.common.protoutil import struct_dict
from services.common.servicecreds import ServiceCredentials
from services.task.workers import Worker, Workers

log = logging.getLogger("agentmesh.task")
FOLLOW_RETRY = (0.2, 5.0)  # first and longest pause before the feed is opened again


class AgentDirectory:
    """WorkerDirectory over AgentService.ResolveWorkers.

    Tasks submitted together for one agent ask at the same moment: while a call is
    in flight, the same question (same actor, same target) waits for its answer
    instead of asking again, which is as fresh as its own call would have been.

    Answers are also kept while :meth:`follow` has a live feed of the agent
    unit's events (``agent.*``, ``team.*``) from the hub: any such event of a
    tenant forgets that tenant's answers, and a feed that is not live (not yet
    open, broken, the hub away) keeps nothing, so an answer is never older than
    the last change the hub has told of. An agent changed a moment ago may still
    take a task until its event arrives (milliseconds); an event that never
    reached the hub leaves an answer for at most ``ttl`` (10 s). Refusals are
    never kept.
    """

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, timeout: float,
                 ttl: float = 10.0, size: int = 10_000) -> None:
        self._stub = agent_pb2_grpc.AgentServiceStub(channel)
        self._credentials = credentials
        self._timeout = timeout
        self._ttl = ttl
        self._size = size
        self._asking: dict[tuple[Actor, str, str], asyncio.Future[tuple[int, Workers]]] = {}
        self._known: dict[tuple[Actor, str, str], tuple[float, Workers]] = {}
        self._epoch = 0  # moves on whenever kept answers may have gone stale
        self._live = False
        self._following: asyncio.Task[None] | None = None

    async def resolve(self, actor: Actor, *, agent_id: str = "", team_id: str = "",
                      time_limit: float | None = None) -> Workers:
        key = (actor, agent_id, team_id)
        loop = asyncio.get_running_loop()
        known = self._known.get(key) if self._live else None
        if known is not None and known[0] > loop.time():
            return known[1]
        asked = self._asking.get(key)
        if asked is None:
            asked = asyncio.ensure_future(self._resolve(actor, agent_id, team_id, time_limit))
            self._asking[key] = asked
            asked.add_done_callback(functools.partial(self._answered, key))
        # One waiter going away (its task cancelled) leaves the call to the others.
        epoch, workers = await asyncio.shield(asked)
        if self._live and epoch == self._epoch:  # nothing changed while the call was out
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[key] = (loop.time() + self._ttl, workers)
        return workers

    def _answered(self, key: tuple[Actor, str, str], asked: asyncio.Future[tuple[int, Workers]]) -> None:
        self._asking.pop(key, None)
        if not asked.cancelled():
            asked.exception()  # seen, even when every waiter has gone

    async def _resolve(self, actor: Actor, agent_id: str, team_id: str,
                       time_limit: float | None) -> tuple[int, Workers]:
        epoch = self._epoch
        metadata = await service_metadata(self._credentials, actor)
        try:
            reply = await self._stub.ResolveWorkers(
                agent_pb2.ResolveWorkersRequest(agent_id=agent_id, team_id=team_id),
                metadata=metadata,
                timeout=min(time_limit, self._timeout) if time_limit is not None else self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise RemoteCallError("agent", exc.code(), exc.details() or "") from exc
        agents = tuple(_worker(runtime) for runtime in reply.agents)
        return epoch, Workers(agents=agents, strategy=reply.strategy if team_id else "", team_id=team_id)

    # -- what keeps kept answers true -------------------------------------------------------------

    def follow(self, hub: grpc.aio.Channel) -> None:
        """Keep answers while the hub's feed of agent and team changes is live; call inside the loop."""
        if self._following is None:
            self._following = asyncio.get_running_loop().create_task(self._follow(hub), name="agent-changes")

    async def aclose(self) -> None:
        following, self._following = self._following, None
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        self._forget()

    async def _follow(self, hub: grpc.aio.Channel) -> None:
        stub = admin_pb2_grpc.EventServiceStub(hub)
        # Whatever the agent unit announces (its contracts declare agent.* and team.*) may change an answer.
        changes = [prefix + "*" for prefix in contracts.event_prefixes()["agent"]]
        request = admin_pb2.WatchEventsRequest(patterns=changes, all_tenants=True)
        delay, said = FOLLOW_RETRY[0], ""
        while True:
            call = None
            try:
                call = stub.WatchEvents(request, metadata=await self._credentials.metadata())
                await call.initial_metadata()  # the hub has subscribed: from here on no change is missed
                self._forget()  # answers asked for before this moment may predate a change nobody told of
                self._live, delay = True, FOLLOW_RETRY[0]
                if said:
                    log.info("agent changes followed again; answers are kept")
                    said = ""
                async for reply in call:
                    event = reply.event  # a lagged notice, or a change of no tenant: forget everything
                    self._forget(event.tenant_id if event.type != LAGGED and event.tenant_id else None)
            except Exception as exc:  # the hub away, a token refused: ask every time until it is back
                reason = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else repr(exc)
                if reason != said:  # once per cause, not at every try
                    log.info("agent changes not followed (%s); answers are not kept meanwhile", reason)
                    said = reason
            finally:
                self._live = False
                self._forget()
                if call is not None:
                    call.cancel()
            await asyncio.sleep(delay)
            delay = min(delay * 2, FOLLOW_RETRY[1])

    def _forget(self, tenant_id: str | None = None) -> None:
        """Drop the kept answers of a tenant (all of them without one); calls out now keep nothing."""
        self._epoch += 1
        if tenant_id is None:
            self._known.clear()
        else:
            for key in [k for k in self._known if k[0].tenant_id == tenant_id]:
                del self._known[key]


def _worker(runtime: Any) -> Worker:
    agent = runtime.agent
    return Worker(
        agent_id=agent.agent_id,
        name=agent.name,
        provider=agent.provider,
        model=agent.model,
        system_prompt=agent.system_prompt,
        parameters=struct_dict(agent.parameters),
        api_key=runtime.api_key,
    )
