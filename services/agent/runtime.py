"""What an agent does at run time: answer a test prompt (TestAgent) and hand itself to a task (ResolveWorkers).

TestAgent runs one prompt through the speech unit's LlmService.Generate with
the agent's provider, model, system prompt, parameters and decrypted key. The
call carries this unit's service token and the caller's x-user-* metadata,
never the caller's own token (which the speech unit would see as the caller
anyway). Errors of the speech unit reach the client with their code
(UNAVAILABLE when it is down), except its internal failures, which are
UNAVAILABLE here: the agent unit did nothing wrong.

ResolveWorkers is for units (the task runner) acting for the task's submitter.
Which agents take tasks, decided from the seeds: seed 001 has no start call, so
an agent that was never started (created) takes tasks, as does a running one;
seed 000 can stop an agent, and a stopped agent (like one in error or in
between states) is refused with FAILED_PRECONDITION "agent ... is not running".
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

import grpc
from agentmesh.v1 import agent_pb2, speech_pb2, speech_pb2_grpc
from google.protobuf import json_format

from services.agent import model, store
from services.agent.paramschema import parameter_violations
from services.common.authctx import Caller
from services.common.crypto import SecretBox, SecretUnreadable
from services.common.errors import (
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    status_from_trailers,
)
from services.common.servicecreds import ServiceCredentials
from services.common.settings import Settings
from services.common.storage import Database, Row

# Agents in these states take tasks (see the module docstring).
TAKES_TASKS = ("created", "running")
_INT32_MAX = 2**31 - 1
_OPAQUE_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)


class LlmClient(Protocol):
    async def generate(
        self, request: speech_pb2.GenerateRequest, metadata: Sequence[tuple[str, str]], deadline: float
    ) -> speech_pb2.GenerateResponse: ...


class SpeechLlm:
    """LlmService.Generate of the speech unit, over one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = speech_pb2_grpc.LlmServiceStub(channel)

    async def generate(
        self, request: speech_pb2.GenerateRequest, metadata: Sequence[tuple[str, str]], deadline: float
    ) -> speech_pb2.GenerateResponse:
        reply: speech_pb2.GenerateResponse = await self._stub.Generate(request, metadata=metadata, timeout=deadline)
        return reply


class UpstreamError(DomainError):
    """A failed call to another unit, passed on with its code and google.rpc details."""

    def __init__(self, unit: str, error: grpc.aio.AioRpcError) -> None:
        code = error.code()
        opaque = code in _OPAQUE_CODES
        super().__init__(f"{unit} unit: {'failed' if opaque else error.details()}",
                         reason=f"{unit.upper()}_{'UNAVAILABLE' if opaque else code.name}")
        self.code = grpc.StatusCode.UNAVAILABLE if opaque else code
        self._upstream = None if opaque else status_from_trailers(error.trailing_metadata())

    def details(self) -> list[Any]:
        if self._upstream is not None and self._upstream.details:
            return list(self._upstream.details)
        return super().details()


def delegated_metadata(service: Sequence[tuple[str, str]], caller: Caller) -> list[tuple[str, str]]:
    """This unit's service authorization plus the caller's identity pairs (not the caller's token)."""
    return [*service, *((k, v) for k, v in caller.metadata() if k != "authorization")]


def open_key(box: SecretBox, row: Row) -> str:
    if row["api_key_sealed"] is None:
        return ""
    try:
        return box.open(row["api_key_sealed"], row["agent_id"])
    except SecretUnreadable:
        raise FailedPrecondition(
            f"agent {row['agent_id']}: the stored api_key cannot be read with the current encryption key; set it again",
            reason="API_KEY_UNREADABLE",
        ) from None


def generation_fields(parameters: dict[str, Any]) -> tuple[dict[str, Any], list[FieldViolation]]:
    """GenerateRequest fields from an agent's parameters: temperature, max_tokens, the rest passed through."""
    fields: dict[str, Any] = {}
    extras = {k: v for k, v in parameters.items() if k not in ("temperature", "max_tokens")}
    problems: list[FieldViolation] = []
    temperature = parameters.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            problems.append(FieldViolation("parameters.temperature", "must be a number"))
        else:
            fields["temperature"] = float(temperature)
    max_tokens = parameters.get("max_tokens")
    if max_tokens is not None:
        if (isinstance(max_tokens, bool) or not isinstance(max_tokens, int | float)
                or not float(max_tokens).is_integer() or not 0 < max_tokens <= _INT32_MAX):
            problems.append(FieldViolation("parameters.max_tokens", "must be a positive integer"))
        else:
            fields["max_tokens"] = int(max_tokens)
    if extras:
        fields["parameters"] = extras
    return fields, problems


class Runtime:
    def __init__(self, db: Database, settings: Settings, box: SecretBox, credentials: ServiceCredentials,
                 llm: LlmClient) -> None:
        self.db = db
        self.settings = settings
        self.box = box
        self.credentials = credentials
        self.llm = llm

    async def test(self, request: agent_pb2.TestAgentRequest, caller: Caller, row: Row,
                   remaining: float | None) -> agent_pb2.TestAgentResponse:
        """One prompt through the agent's model; `remaining` is the caller's deadline, in seconds."""
        prompt = request.prompt if request.prompt.strip() else request.input
        model.raise_if([model.text_violation("prompt", prompt.strip(), model.PROMPT_MAX, required=True)])
        overrides = dict(json_format.MessageToDict(request.parameters))
        parameters = {**json.loads(row["parameters"]), **overrides}
        definition = await store.definition_by_name(self.db, row["type"])
        schema = json.loads(definition["parameter_schema"]) if definition else {}
        fields, problems = generation_fields(parameters)
        model.raise_if([*parameter_violations(schema, parameters), *problems])
        generate = speech_pb2.GenerateRequest(
            prompt=prompt, system=row["system_prompt"], model=row["model"], provider=row["provider"],
            api_key=open_key(self.box, row),
        )
        if "parameters" in fields:
            generate.parameters.update(fields.pop("parameters"))
        for name, value in fields.items():
            setattr(generate, name, value)
        metadata = delegated_metadata(await self.credentials.metadata(), caller)
        metadata.append(("x-usage-agent-id", row["agent_id"]))  # what the call is for, as analytics counts it
        began = time.monotonic()
        try:
            reply = await self.llm.generate(generate, metadata, remaining or self.settings.llm_timeout + 5.0)
        except grpc.aio.AioRpcError as exc:
            raise UpstreamError("speech", exc) from None
        return agent_pb2.TestAgentResponse(
            output=reply.text, usage=reply.usage, latency_ms=int((time.monotonic() - began) * 1000),
            provider=reply.provider, model=reply.model,
        )

    async def resolve(
        self, request: agent_pb2.ResolveWorkersRequest, tenant_id: str
    ) -> agent_pb2.ResolveWorkersResponse:
        agent_id, team_id = request.agent_id.strip(), request.team_id.strip()
        if bool(agent_id) == bool(team_id):
            raise InvalidArgument("name exactly one of agent_id and team_id", [
                FieldViolation("agent_id", "exactly one of agent_id and team_id"),
                FieldViolation("team_id", "exactly one of agent_id and team_id"),
            ])
        if agent_id:
            row = await store.agent_row(self.db, agent_id, tenant_id)
            teams = await store.team_ids_of(self.db, [agent_id])
            return agent_pb2.ResolveWorkersResponse(agents=[self._runtime(row, teams.get(agent_id, []))])
        team = await store.team_row(self.db, team_id, tenant_id)
        members = (await store.members_of(self.db, [team_id])).get(team_id, [])
        if not members:
            raise FailedPrecondition(f"team {team_id} has no members; add agents to it first", reason="TEAM_EMPTY")
        rows = {r["agent_id"]: r for r in await self.db.fetch_all(
            "SELECT a.* FROM agents a JOIN team_members m ON m.agent_id = a.agent_id WHERE m.team_id = ?", (team_id,)
        )}
        teams = await store.team_ids_of(self.db, list(rows))
        return agent_pb2.ResolveWorkersResponse(
            agents=[self._runtime(rows[m["agent_id"]], teams.get(m["agent_id"], [])) for m in members],
            strategy=team["strategy"],
            team=model.team_message(team, members),
        )

    def _runtime(self, row: Row, team_ids: Sequence[str]) -> agent_pb2.AgentRuntime:
        if row["status"] not in TAKES_TASKS:
            raise FailedPrecondition(
                f"agent {row['agent_id']} is not running (status {row['status']}); start it with StartAgent",
                reason="AGENT_NOT_RUNNING", metadata={"agent_id": row["agent_id"], "status": row["status"]},
            )
        return agent_pb2.AgentRuntime(agent=model.agent_message(row, team_ids), api_key=open_key(self.box, row))
