"""GetPlatformStats: each figure from the unit that owns it, or from what the hub announced.

Asked of the units over gRPC, acting for the calling admin under the admin
unit's service token, all at once with a short deadline:
- auth: tenants (AdminListClients' total), users (AdminGetUserStats), users
  who signed in within 30 days (AdminListUsers ordered by last sign-in: a
  binary search for the last one inside the window, a few one-row pages);
- agent: agents and running agents (AdminListAgents' totals);
- task: workflows (AdminListWorkflows' total);
- speech: conversations (AdminListConversations' total).
Counted by this unit from the hub's events (services.admin.activity): tasks
ever created, queued or running now, created in 24 h; workflow runs started
in 24 h; persona instances; tokens in 24 h. Open connections are the event and
notification feeds open at the hub now (the edge shares one feed among a
user's sockets). A unit that does not answer makes the call UNAVAILABLE,
naming it: a dashboard never shows a zero that is not one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from agentmesh.v1 import (
    admin_pb2,
    agent_pb2,
    agent_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    speech_pb2,
    speech_pb2_grpc,
    task_pb2,
    task_pb2_grpc,
)

from services.admin import activity
from services.common.authctx import Caller
from services.common.channels import unit_channel
from services.common.errors import Unavailable
from services.common.protoutil import seconds, timestamp
from services.common.servicecreds import ServiceCredentials
from services.common.settings import Settings
from services.common.storage import Database

ACTIVE_DAYS = 30
T = TypeVar("T")


class PlatformStats:
    def __init__(self, settings: Settings, credentials: ServiceCredentials, db: Database,
                 open_feeds: Callable[[], int], *, timeout: float = 3.0) -> None:
        self.db = db
        self.credentials = credentials
        self.open_feeds = open_feeds
        self.timeout = timeout
        self._channels = {unit: unit_channel(settings, unit) for unit in ("auth", "agent", "task", "speech")}

    async def aclose(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def _metadata(self, caller: Caller) -> list[tuple[str, str]]:
        # The service token vouches for the admin; their own token may expire meanwhile.
        return [(k, v) for k, v in caller.metadata() if k != "authorization"] + await self.credentials.metadata()

    async def _ask(self, unit: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"platform stats incomplete: the {unit} unit answered {exc.code().name}",
                              reason="UNIT_UNAVAILABLE", metadata={"unit": unit}) from exc

    async def compute(self, caller: Caller) -> admin_pb2.GetPlatformStatsResponse:
        metadata = await self._metadata(caller)
        kw: dict[str, Any] = {"metadata": metadata, "timeout": self.timeout}
        users = auth_pb2_grpc.UserAdminServiceStub(self._channels["auth"])
        clients = auth_pb2_grpc.ClientAdminServiceStub(self._channels["auth"])
        agents = agent_pb2_grpc.AgentServiceStub(self._channels["agent"])
        workflows = task_pb2_grpc.WorkflowAdminServiceStub(self._channels["task"])
        conversations = speech_pb2_grpc.ConversationAdminServiceStub(self._channels["speech"])
        (tenants, user_stats, active, all_agents, running, flows, chats, figures) = await asyncio.gather(
            self._ask("auth", lambda: clients.AdminListClients(auth_pb2.AdminListClientsRequest(page_size=1), **kw)),
            self._ask("auth", lambda: users.AdminGetUserStats(auth_pb2.AdminGetUserStatsRequest(), **kw)),
            self._ask("auth", lambda: self._active_users(users, kw)),
            self._ask("agent", lambda: agents.AdminListAgents(agent_pb2.AdminListAgentsRequest(page_size=1), **kw)),
            self._ask("agent", lambda: agents.AdminListAgents(
                agent_pb2.AdminListAgentsRequest(page_size=1, status="running"), **kw)),
            self._ask("task", lambda: workflows.AdminListWorkflows(
                task_pb2.AdminListWorkflowsRequest(page_size=1), **kw)),
            self._ask("speech", lambda: conversations.AdminListConversations(
                speech_pb2.AdminListConversationsRequest(page_size=1), **kw)),
            activity.figures(self.db),
        )
        tokens = common_pb2.TokenUsage(prompt_tokens=figures.prompt_tokens_24h,
                                       completion_tokens=figures.completion_tokens_24h,
                                       total_tokens=figures.prompt_tokens_24h + figures.completion_tokens_24h)
        return admin_pb2.GetPlatformStatsResponse(
            total_tenants=tenants.total_size, total_users=user_stats.total_users, active_users=active,
            total_agents=all_agents.total_size, running_agents=running.total_size, total_tasks=figures.total_tasks,
            active_tasks=figures.active_tasks, tasks_last_24h=figures.tasks_last_24h, total_workflows=flows.total_size,
            workflow_runs_last_24h=figures.runs_last_24h, total_persona_instances=figures.persona_instances,
            total_conversations=chats.total_size, usage_last_24h=tokens, active_connections=self.open_feeds(),
            generated_at=timestamp(time.time()),
        )

    async def _active_users(self, stub: auth_pb2_grpc.UserAdminServiceStub, kw: dict[str, Any]) -> int:
        """Users whose last sign-in is within ACTIVE_DAYS: the first one-row page past the window, found by
        halving (the list is ordered by last sign-in, newest first, never-signed-in last)."""
        cutoff = time.time() - ACTIVE_DAYS * 86400

        async def inside(offset: int) -> tuple[bool, int]:
            reply = await stub.AdminListUsers(auth_pb2.AdminListUsersRequest(
                page_size=1, offset=offset, order_by="last_login_at desc"), **kw)
            if not reply.users:
                return False, reply.total_size
            user = reply.users[0]
            return user.HasField("last_login_at") and seconds(user.last_login_at) >= cutoff, reply.total_size

        first, total = await inside(0)
        if not first:
            return 0
        low, high = 1, total  # inside(low - 1) holds; inside(high) does not (past the end)
        while low < high:
            middle = (low + high) // 2
            if (await inside(middle))[0]:
                low = middle + 1
            else:
                high = middle
        return low
