"""The runner's real collaborators: the agent unit (ResolveWorkers) and the speech unit (Generate).

Every call carries this unit's service token and the task owner's x-user-*
pairs (never the owner's own token), so the other unit applies the owner's
tenant, never the task unit's. An error status becomes a RemoteCallError that
says which unit answered what.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import grpc
from agentmesh.v1 import agent_pb2, agent_pb2_grpc, speech_pb2, speech_pb2_grpc

from services.common.protoutil import struct, struct_dict
from services.common.servicecreds import ServiceCredentials
from services.task.workers import Actor, Generation, ModelRequest, RemoteCallError, Usage, Worker, Workers


async def _metadata(credentials: ServiceCredentials, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    try:
        service = await credentials.metadata()
    except grpc.aio.AioRpcError as exc:
        raise RemoteCallError("auth", exc.code(), f"no service token: {exc.details()}") from exc
    return [*service, *pairs]


class AgentDirectory:
    """WorkerDirectory over AgentService.ResolveWorkers.

    Tasks submitted together for one agent ask at the same moment: while a call is
    in flight, the same question (same actor, same target) waits for its answer
    instead of asking again, which is as fresh as its own call would have been.
    """

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, timeout: float) -> None:
        self._stub = agent_pb2_grpc.AgentServiceStub(channel)
        self._credentials = credentials
        self._timeout = timeout
        self._asking: dict[tuple[Actor, str, str], asyncio.Future[Workers]] = {}

    async def resolve(self, actor: Actor, *, agent_id: str = "", team_id: str = "",
                      time_limit: float | None = None) -> Workers:
        key = (actor, agent_id, team_id)
        asked = self._asking.get(key)
        if asked is None:
            asked = asyncio.ensure_future(self._resolve(actor, agent_id, team_id, time_limit))
            self._asking[key] = asked
            asked.add_done_callback(functools.partial(self._answered, key))
        # One waiter going away (its task cancelled) leaves the call to the others.
        return await asyncio.shield(asked)

    def _answered(self, key: tuple[Actor, str, str], asked: asyncio.Future[Workers]) -> None:
        self._asking.pop(key, None)
        if not asked.cancelled():
            asked.exception()  # seen, even when every waiter has gone

    async def _resolve(self, actor: Actor, agent_id: str, team_id: str, time_limit: float | None) -> Workers:
        metadata = await _metadata(self._credentials, actor.metadata())
        try:
            reply = await self._stub.ResolveWorkers(
                agent_pb2.ResolveWorkersRequest(agent_id=agent_id, team_id=team_id),
                metadata=metadata,
                timeout=min(time_limit, self._timeout) if time_limit is not None else self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise RemoteCallError("agent", exc.code(), exc.details() or "") from exc
        agents = tuple(_worker(runtime) for runtime in reply.agents)
        return Workers(agents=agents, strategy=reply.strategy if team_id else "", team_id=team_id)


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


class SpeechModel:
    """ModelClient over LlmService.Generate."""

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, timeout: float) -> None:
        self._stub = speech_pb2_grpc.LlmServiceStub(channel)
        self._credentials = credentials
        self._timeout = timeout

    async def generate(self, actor: Actor, request: ModelRequest, *, time_limit: float | None = None) -> Generation:
        message = speech_pb2.GenerateRequest(
            prompt=request.prompt,
            system=request.system,
            model=request.model,
            provider=request.provider,
            max_tokens=request.max_tokens,
            api_key=request.api_key,
            parameters=struct(request.parameters),
        )
        if request.temperature is not None:
            message.temperature = request.temperature
        metadata = await _metadata(self._credentials, actor.metadata())
        try:
            reply = await self._stub.Generate(
                message,
                metadata=metadata,
                timeout=min(time_limit, self._timeout) if time_limit is not None else self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise RemoteCallError("speech", exc.code(), exc.details() or "") from exc
        usage = Usage(int(reply.usage.prompt_tokens), int(reply.usage.completion_tokens),
                      int(reply.usage.total_tokens))
        return Generation(text=reply.text, usage=usage, provider=reply.provider, model=reply.model,
                          finish_reason=reply.finish_reason or "stop")
