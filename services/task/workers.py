"""What the runner depends on: who works a task (WorkerDirectory; services.common.llm has the model it calls).

WorkerDirectory is a Protocol; its real implementation (services.task.remote)
is a gRPC client of the agent unit. A task acts for the user who submitted
it: the `Actor` kept with the task row (user, tenant, role...; never the user's
token, which may have expired by the time the task runs) travels as x-user-*
metadata next to this unit's own service token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.authctx import Actor


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


class WorkerDirectory(Protocol):
    async def resolve(self, actor: Actor, *, agent_id: str = "", team_id: str = "",
                      time_limit: float | None = None) -> Workers:
        """The agent, or the team's members and strategy; RemoteCallError when the agent unit refuses."""
        ...


