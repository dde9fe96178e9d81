"""The speech unit's LLM as other units call it: LlmService.Generate on behalf of a stored `Actor`.

Units that run work later (the task runner, persona executions) call the model
for the user who asked for it: the call carries the unit's own service token
and the user's x-user-* pairs, never the user's token. A refusal or failure of
the speech unit (or of another unit) becomes a `RemoteCallError` that says
which unit answered what, and whether trying again may help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from agentmesh.v1 import speech_pb2, speech_pb2_grpc

from services.common.authctx import Actor
from services.common.errors import (
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from services.common.protoutil import struct
from services.common.servicecreds import ServiceCredentials

# Worth trying again: the other unit is restarting, overloaded or slow.
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.total_tokens + other.total_tokens)


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class ModelRequest:
    prompt: str
    system: str = ""
    model: str = ""
    provider: str = ""
    temperature: float | None = None
    max_tokens: int = 0
    api_key: str = field(default="", repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)
    # What the call is for, as the speech unit reports it to analytics: (name, value) pairs of
    # agent_id, team_id, workflow_id, subject_id.
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    usage: Usage = NO_USAGE
    provider: str = ""
    model: str = ""
    finish_reason: str = "stop"


class ModelClient(Protocol):
    async def generate(self, actor: Actor, request: ModelRequest, *, time_limit: float | None = None) -> Generation:
        """One completion; RemoteCallError when the model unit refuses or fails."""
        ...


class RemoteCallError(Exception):
    """Another unit answered a call with an error status (or could not be reached)."""

    def __init__(self, unit: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{unit} unit: {details or code.name}")
        self.unit = unit
        self.code = code
        self.details = details or code.name

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    def domain(self, field: str) -> DomainError:
        """The error to hand the client whose request named `field` (an agent_id, a team_id...)."""
        text = self.details
        if self.code == grpc.StatusCode.NOT_FOUND:
            return NotFound(f"{field}: {text}", reason="WORKER_NOT_FOUND", metadata={"field": field})
        if self.code == grpc.StatusCode.INVALID_ARGUMENT:
            return InvalidArgument(f"{field}: {text}", [FieldViolation(field, text)])
        if self.code == grpc.StatusCode.FAILED_PRECONDITION:
            return FailedPrecondition(f"{field}: {text}", reason="WORKER_NOT_READY", metadata={"field": field})
        if self.code == grpc.StatusCode.PERMISSION_DENIED:
            return PermissionDenied(f"{field}: {text}", reason="WORKER_DENIED")
        if self.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return ResourceExhausted(f"{self.unit} unit: {text}")
        return Unavailable(f"{self.unit} unit: {text}", reason="DEPENDENCY_UNAVAILABLE")

    @property
    def rejects_request(self) -> bool:
        """Whether the other unit judged the request itself (as opposed to failing to answer it)."""
        return self.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                             grpc.StatusCode.FAILED_PRECONDITION)


async def service_metadata(credentials: ServiceCredentials, actor: Actor) -> list[tuple[str, str]]:
    """This unit's service authorization and the actor's x-user-* pairs; RemoteCallError without a token."""
    try:
        service = await credentials.metadata()
    except grpc.aio.AioRpcError as exc:
        raise RemoteCallError("auth", exc.code(), f"no service token: {exc.details()}") from exc
    return [*service, *actor.metadata()]


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
        metadata = await service_metadata(self._credentials, actor)
        metadata.extend((f"x-usage-{name.replace('_', '-')}", value) for name, value in request.labels if value)
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
