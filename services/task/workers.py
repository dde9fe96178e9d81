"""What the runner depends on: who works a task (WorkerDirectory) and the model it calls (ModelClient).

Both are Protocols; their real implementations (services.task.remote) are gRPC
clients of the agent and speech units. A task acts for the user who submitted
it: the `Actor` kept with the task row (user, tenant, role...; never the user's
token, which may have expired by the time the task runs) travels as x-user-*
metadata next to this unit's own service token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from services.common.authctx import Caller
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

# Worth trying again: the other unit is restarting, overloaded or slow.
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a task acts for, as stored with it."""

    user_id: str
    tenant_id: str
    role: str = "user"
    tier: str = ""
    email: str = ""
    permissions: tuple[str, ...] = ()

    @classmethod
    def of(cls, caller: Caller) -> Actor:
        role = caller.role if caller.role and caller.role != "service" else "user"
        return cls(caller.user_id, caller.tenant_id, role, caller.tier, caller.email, tuple(sorted(caller.permissions)))

    @classmethod
    def from_json(cls, text: str) -> Actor:
        data = json.loads(text or "{}")
        return cls(
            user_id=str(data.get("user_id", "")),
            tenant_id=str(data.get("tenant_id", "")),
            role=str(data.get("role", "user")),
            tier=str(data.get("tier", "")),
            email=str(data.get("email", "")),
            permissions=tuple(str(p) for p in data.get("permissions", ())),
        )

    def to_json(self) -> str:
        return json.dumps(
            {"user_id": self.user_id, "tenant_id": self.tenant_id, "role": self.role, "tier": self.tier,
             "email": self.email, "permissions": list(self.permissions)},
            separators=(",", ":"),
        )

    def metadata(self) -> list[tuple[str, str]]:
        """The x-user-* pairs a service token vouches for."""
        pairs = [
            ("x-user-id", self.user_id),
            ("x-client-id", self.tenant_id),
            ("x-user-role", self.role),
            ("x-user-tier", self.tier),
            ("x-user-email", self.email),
            ("x-user-permissions", ",".join(self.permissions)),
        ]
        return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True, slots=True)
class Worker:
    """One agent as the runner needs it."""

    agent_id: str
    name: str = ""
    provider: str = ""
    model: str = ""
    system_prompt: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    api_key: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Workers:
    """The agents that work a task, in order, and how (empty strategy: one agent)."""

    agents: tuple[Worker, ...]
    strategy: str = ""
    team_id: str = ""


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


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    usage: Usage = NO_USAGE
    provider: str = ""
    model: str = ""
    finish_reason: str = "stop"


class WorkerDirectory(Protocol):
    async def resolve(self, actor: Actor, *, agent_id: str = "", team_id: str = "",
                      time_limit: float | None = None) -> Workers:
        """The agent, or the team's members and strategy; RemoteCallError when the agent unit refuses."""
        ...


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
