"""In-test implementations of the runner's two Protocols (WorkerDirectory, ModelClient), for runner tests.

They stand in for the agent and speech units so that scheduling, cancel,
timeouts, retries and team strategies can be driven precisely: a model call
can be held on a gate, delayed, failed, and observed being cancelled. The
end-to-end tests use the real units instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc

from services.common.authctx import Actor
from services.common.llm import Generation, ModelRequest, RemoteCallError, Usage
from services.task.workers import Worker, Workers


@dataclass
class Behaviour:
    """How the model answers for one model name."""

    delay: float = 0.0
    gate: asyncio.Event | None = None
    failures: list[grpc.StatusCode] = field(default_factory=list)  # raised in order, one per call, then answers


class ScriptedModel:
    """Answers `<model>(<prompt>)`; counts calls, concurrency and cancellations."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.calls: list[tuple[str, str]] = []
        self.cancelled: list[str] = []
        self.active = 0
        self.peak = 0
        self.started = asyncio.Event()
        self.actors: list[Actor] = []

    def behave(self, model: str, **kw: object) -> Behaviour:
        behaviour = Behaviour(**kw)  # type: ignore[arg-type]
        self.behaviours[model] = behaviour
        return behaviour

    async def generate(self, actor: Actor, request: ModelRequest, *, time_limit: float | None = None) -> Generation:
        behaviour = self.behaviours.get(request.model, Behaviour())
        self.calls.append((request.model, request.prompt))
        self.actors.append(actor)
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started.set()
        try:
            if behaviour.failures:
                code = behaviour.failures.pop(0)
                raise RemoteCallError("speech", code, f"scripted {code.name}")
            if behaviour.gate is not None:
                await behaviour.gate.wait()
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
        except asyncio.CancelledError:
            self.cancelled.append(request.model)
            raise
        finally:
            self.active -= 1
        text = f"{request.model}({request.prompt})"
        words = len(request.prompt.split())
        return Generation(text=text, usage=Usage(words, 1, words + 1), provider="scripted", model=request.model)


class Directory:
    """Agents and teams by tenant; another tenant's id is NOT_FOUND, as the agent unit answers."""

    def __init__(self) -> None:
        self.agents: dict[str, tuple[str, Worker]] = {}
        self.teams: dict[str, tuple[str, str, list[str]]] = {}
        self.stopped: set[str] = set()
        self.down = False
        self.calls = 0

    def agent(self, tenant_id: str, agent_id: str, *, model: str | None = None) -> str:
        self.agents[agent_id] = (tenant_id, Worker(agent_id=agent_id, name=agent_id, provider="scripted",
                                                   model=model or agent_id, api_key=f"key-{agent_id}"))
        return agent_id

    def team(self, tenant_id: str, team_id: str, strategy: str, members: list[str]) -> str:
        self.teams[team_id] = (tenant_id, strategy, members)
        return team_id

    async def resolve(self, actor: Actor, *, agent_id: str = "", team_id: str = "",
                      time_limit: float | None = None) -> Workers:
        self.calls += 1
        if self.down:
            raise RemoteCallError("agent", grpc.StatusCode.UNAVAILABLE, "connection refused")
        if agent_id:
            found = self.agents.get(agent_id)
            if found is None or found[0] != actor.tenant_id:
                raise RemoteCallError("agent", grpc.StatusCode.NOT_FOUND, f"agent {agent_id} not found")
            if agent_id in self.stopped:
                raise RemoteCallError("agent", grpc.StatusCode.FAILED_PRECONDITION, f"agent {agent_id} is not running")
            return Workers(agents=(found[1],))
        team = self.teams.get(team_id)
        if team is None or team[0] != actor.tenant_id:
            raise RemoteCallError("agent", grpc.StatusCode.NOT_FOUND, f"team {team_id} not found")
        return Workers(agents=tuple(self.agents[a][1] for a in team[2]), strategy=team[1], team_id=team_id)
