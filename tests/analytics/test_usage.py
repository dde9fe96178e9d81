"""Usage, cost, performance and conversation analytics on the real analytics unit, fed by the real units' events.

The speech unit answers with the echo provider, or with a local server that
speaks the OpenAI API (the test double of an outside system) for a priced
model; the persona unit runs executions through it; the admin unit's hub
carries their events to the analytics unit's feed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from agentmesh.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    persona_pb2,
    persona_pb2_grpc,
    speech_pb2,
    speech_pb2_grpc,
)
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import timestamp_pb2

from edge.mesh import create_app
from services.admin.wiring import SPEC as ADMIN
from services.analytics.usage_records import price
from services.analytics.wiring import SPEC as ANALYTICS
from services.common.bootstrap import RunningUnit, start
from services.common.servicecreds import service_secret
from services.common.settings import Settings
from services.persona.wiring import SPEC as PERSONA
from services.speech.wiring import SPEC as SPEECH
from tests.agent.conftest import env_for
from tests.auth.conftest import (  # noqa: F401  (fixtures)
    Account,
    auth_channel,
    auth_unit,
    quick_throttle,
    signed_in,
    stack,
)
from tests.speech.openai_server import FakeOpenAi


@pytest.fixture
def settings(tmp_path: Path, openai_server: FakeOpenAi) -> Settings:
    return Settings.from_env(env_for(tmp_path, OPENAI_BASE_URL=openai_server.base_url, LLM_CACHE_TTL="0",
                                     OPENAI_API_KEY="sk-test-0123456789abcdefghijklmn", AGENTMESH_SUPERVISED="1"))


@dataclass
class Mesh:
    settings: Settings
    channels: dict[str, grpc.aio.Channel]
    start_analytics: Callable[[], Awaitable[AsyncExitStack]]
    analytics: AsyncExitStack

    @property
    def usage(self) -> analytics_pb2_grpc.UsageAnalyticsServiceStub:
        return analytics_pb2_grpc.UsageAnalyticsServiceStub(self.channels["analytics"])

    @property
    def conversations(self) -> analytics_pb2_grpc.ConversationAnalyticsServiceStub:
        return analytics_pb2_grpc.ConversationAnalyticsServiceStub(self.channels["analytics"])

    async def metrics(self, who: Account, **fields: Any) -> analytics_pb2.GetUsageMetricsResponse:
        return await self.usage.GetUsageMetrics(analytics_pb2.GetUsageMetricsRequest(**fields),
                                                metadata=who.metadata)

    async def counted(self, who: Account, requests: int, within: float = 10.0) -> analytics_pb2.UsageSummary:
        """The caller's usage summary once the feed has stored `requests` operations."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            summary = (await self.metrics(who)).summary
            if summary.request_count >= requests:
                assert summary.request_count == requests
                return summary
            assert asyncio.get_running_loop().time() < deadline, f"only {summary.request_count} operations counted"
            await asyncio.sleep(0.05)


@pytest.fixture
async def mesh(auth_unit: RunningUnit, settings: Settings, stack: AsyncExitStack,  # noqa: F811
               auth_channel: grpc.aio.Channel) -> AsyncIterator[Mesh]:  # noqa: F811
    for spec in (ADMIN, SPEECH, PERSONA):
        await start(spec, settings, stack, port=settings.ports[spec.name], metrics_port=0)

    async def start_analytics() -> AsyncExitStack:
        own = AsyncExitStack()
        await start(ANALYTICS, settings, own, port=settings.ports["analytics"], metrics_port=0)
        return own

    channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{settings.ports[name]}")
                for name in ("speech", "persona", "analytics")}
    mesh = Mesh(settings, channels, start_analytics, await start_analytics())
    try:
        yield mesh
    finally:
        for channel in channels.values():
            await channel.close()
        await mesh.analytics.aclose()


async def service_metadata(auth: grpc.aio.Channel, settings: Settings) -> list[tuple[str, str]]:
    reply = await auth_pb2_grpc.AuthServiceStub(auth).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="task", secret=service_secret(settings)))
    return [("authorization", f"Bearer {reply.access_token}")]


def stamp(seconds: float) -> timestamp_pb2.Timestamp:
    found = timestamp_pb2.Timestamp()
    found.FromNanoseconds(int(seconds * 1e9))
    return found


async def test_model_calls_chats_and_executions_are_counted_and_priced(
    mesh: Mesh, auth_channel: grpc.aio.Channel  # noqa: F811
) -> None:
    alice, bob = await signed_in(auth_channel), await signed_in(auth_channel)
    llm = speech_pb2_grpc.LlmServiceStub(mesh.channels["speech"])
    priced = await llm.Generate(speech_pb2.GenerateRequest(prompt="price me please", provider="openai",
                                                           model="gpt-4o-mini"), metadata=alice.metadata)
    chat = await speech_pb2_grpc.ChatServiceStub(mesh.channels["speech"]).Chat(
        speech_pb2.ChatRequest(content="hello there"), metadata=alice.metadata)
    admin = await signed_in(auth_channel, role="admin")
    templates = persona_pb2_grpc.PersonaTemplateServiceStub(mesh.channels["persona"])
    template = (await templates.CreateTemplate(persona_pb2.CreateTemplateRequest(name="Counted", published=True),
                                               metadata=admin.metadata)).template
    instances = persona_pb2_grpc.PersonaInstanceServiceStub(mesh.channels["persona"])
    instance = (await instances.CreateInstance(persona_pb2.CreateInstanceRequest(template_id=template.template_id),
                                               metadata=alice.metadata)).instance
    await instances.ExecuteInstance(persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id,
                                                                       input="run once"), metadata=alice.metadata)
    # three model calls, a chat turn and a persona execution
    summary = await mesh.counted(alice, 5)
    assert (summary.llm_call_count, summary.active_users) == (3, 1)
    expected_cost = price("gpt-4o-mini", priced.usage.prompt_tokens, priced.usage.completion_tokens)
    assert expected_cost > 0 and summary.cost_usd == pytest.approx(expected_cost)
    by_unit = await mesh.metrics(alice, group_by="unit")
    units: dict[str, int] = {}
    for point in by_unit.points:
        units[point.group] = units.get(point.group, 0) + int(point.summary.request_count)
    assert units == {"speech": 3, "persona": 2}

    assert (await mesh.metrics(bob)).summary.request_count == 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mesh.metrics(bob, tenant_id=alice.tenant_id)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await mesh.metrics(admin, tenant_id=alice.tenant_id)).summary.request_count == 5

    costs = await mesh.usage.GetCostAnalysis(analytics_pb2.GetCostAnalysisRequest(), metadata=alice.metadata)
    assert costs.group_by == "model" and costs.breakdown[0].group == "gpt-4o-mini"
    assert costs.breakdown[0].share == 1.0 and costs.total_cost_usd == pytest.approx(expected_cost)
    assert costs.projected_month_cost_usd >= costs.total_cost_usd

    metrics = await mesh.conversations.GetConversationMetrics(analytics_pb2.GetConversationMetricsRequest(
        user_id=alice.user_id, chat_id=chat.conversation_id), metadata=alice.metadata)
    assert (metrics.message_count, metrics.user_message_count) == (2, 1) and metrics.average_response_time > 0
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await mesh.conversations.GetConversationMetrics(analytics_pb2.GetConversationMetricsRequest(
            user_id=alice.user_id, chat_id=chat.conversation_id), metadata=bob.metadata)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    board = await mesh.conversations.GetConversationDashboard(analytics_pb2.GetConversationDashboardRequest(),
                                                              metadata=alice.metadata)
    assert (board.total_conversations, board.total_messages, board.active_users) == (1, 2, 1)


async def test_recorded_usage_gives_performance_figures_and_duplicates_change_nothing(
    mesh: Mesh, auth_channel: grpc.aio.Channel  # noqa: F811
) -> None:
    alice = await signed_in(auth_channel)
    service = await service_metadata(auth_channel, mesh.settings)
    moment = time.time() - 60

    def record(n: int, **fields: Any) -> analytics_pb2.UsageRecord:
        return analytics_pb2.UsageRecord(record_id=f"r{n}", tenant_id=alice.tenant_id, unit="task", kind="task",
                                         occurred_at=stamp(moment + n), **fields)

    latencies = [100.0, 200.0, 300.0, 400.0, 1000.0]
    outcomes = ["succeeded", "succeeded", "failed", "succeeded", "cancelled"]
    records = [record(n, latency_ms=latency, outcome=outcome, agent_id="agt_1")
               for n, (latency, outcome) in enumerate(zip(latencies, outcomes, strict=True))]
    stored = await mesh.usage.RecordUsage(analytics_pb2.RecordUsageRequest(records=records), metadata=service)
    assert (stored.recorded_count, stored.duplicate_count) == (5, 0)
    again = await mesh.usage.RecordUsage(analytics_pb2.RecordUsageRequest(records=records[:2]), metadata=service)
    assert (again.recorded_count, again.duplicate_count) == (0, 2)

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await mesh.usage.RecordUsage(analytics_pb2.RecordUsageRequest(records=[
            record(9), analytics_pb2.UsageRecord(record_id="x", tenant_id=alice.tenant_id, unit="nowhere",
                                                 kind="task", occurred_at=stamp(moment))]), metadata=service)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "records[1].unit" in (bad.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as user:
        await mesh.usage.RecordUsage(analytics_pb2.RecordUsageRequest(records=[record(10)]), metadata=alice.metadata)
    assert user.value.code() == grpc.StatusCode.PERMISSION_DENIED

    reply = await mesh.usage.GetPerformanceMetrics(analytics_pb2.GetPerformanceMetricsRequest(kind="task"),
                                                   metadata=alice.metadata)
    figures = reply.summary
    assert (figures.request_count, figures.error_count) == (5, 1)  # record 9 was refused with its batch
    assert figures.error_rate == pytest.approx(0.2) and figures.task_success_rate == pytest.approx(0.6)
    assert (figures.p50_latency_ms, figures.p95_latency_ms, figures.average_latency_ms) == (300.0, 1000.0, 400.0)
    board = await mesh.usage.GetAnalyticsDashboard(analytics_pb2.GetAnalyticsDashboardRequest(),
                                                   metadata=alice.metadata)
    assert dict(board.tasks_by_status) == {"succeeded": 3, "failed": 1, "cancelled": 1}
    assert [(e.id, e.count) for e in board.top_agents] == [("agt_1", 5)]

    async with TestClient(TestServer(create_app(mesh.settings))) as edge:
        headers = {"Authorization": f"Bearer {alice.access_token}"}
        report = await edge.get("/api/v1/analytics/reports?format=csv&report=usage&group_by=agent", headers=headers)
        assert report.status == 200 and report.headers["Content-Type"].startswith("text/csv")
        assert re.fullmatch(r'attachment; filename="usage-report-\d{4}-\d\d-\d\d\.csv"',
                            report.headers["Content-Disposition"])
        rows = list(csv.DictReader(io.StringIO(await report.text())))
        assert sum(int(r["task_count"]) for r in rows) == 5 and {r["group"] for r in rows} == {"agt_1"}
        as_json = await edge.get("/api/v1/analytics/reports?report=performance", headers=headers)
        document = json.loads(await as_json.text())
        assert document["report"] == "performance" and document["tenant_id"] == alice.tenant_id
        assert as_json.headers["Content-Disposition"].endswith('.json"')
        wrong = await edge.get("/api/v1/analytics/usage?granularity=fortnight", headers=headers)
        assert wrong.status == 400 and (await wrong.json())["error"]["code"] == "INVALID_ARGUMENT"
        inverted = await edge.get("/api/v1/analytics/dashboard?start_date=2025-02-01&end_date=2025-01-01",
                                  headers=headers)
        assert inverted.status == 400


async def test_the_feed_resumes_where_it_stopped(mesh: Mesh, auth_channel: grpc.aio.Channel) -> None:  # noqa: F811
    alice = await signed_in(auth_channel)
    llm = speech_pb2_grpc.LlmServiceStub(mesh.channels["speech"])
    await llm.Generate(speech_pb2.GenerateRequest(prompt="before"), metadata=alice.metadata)
    await mesh.counted(alice, 1)
    await mesh.analytics.aclose()  # events published while the unit is away are replayed to the next one
    for prompt in ("while away 1", "while away 2"):
        await llm.Generate(speech_pb2.GenerateRequest(prompt=prompt), metadata=alice.metadata)
    await asyncio.sleep(0.2)
    mesh.analytics = await mesh.start_analytics()
    assert (await mesh.counted(alice, 3)).llm_call_count == 3


def test_tokens_are_priced_from_the_table() -> None:
    assert price("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert price("gpt-4o", 1000, 0) == pytest.approx(0.0025)
    assert price("echo-1", 10_000, 10_000) == 0.0
