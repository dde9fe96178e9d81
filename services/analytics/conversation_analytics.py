"""ConversationAnalyticsService: seed 003's /conversations/analytics metrics, dashboard and report.

Read from the chat records (kind `chat`): one per answered turn, i.e. one user
message and one assistant message, with the time the answer took. A user
reads their own conversations; admins read anyone's. The engagement score of a
conversation weighs how many turns it had (0.7: ten turns or more count
fully) and how long it lasted from first to last message (0.3: thirty
minutes or more count fully).
"""

from __future__ import annotations

from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2

from services.analytics import reports
from services.analytics.usage_query import window_of_dates
from services.common import authctx
from services.common.crud import required_id
from services.common.errors import NotFound, PermissionDenied
from services.common.protoutil import timestamp
from services.common.storage import Database

_TURNS = ("SELECT subject_id, user_id, COUNT(*) AS turns, AVG(latency_ms) AS latency,"
          " MIN(occurred_at - latency_ms / 1000.0) AS first_at, MAX(occurred_at) AS last_at FROM usage_records")


def engagement(turns: int, seconds: float) -> float:
    return round(0.7 * min(1.0, turns / 10) + 0.3 * min(1.0, max(seconds, 0.0) / 1800), 4)


class ConversationAnalytics:
    """agentmesh.v1.ConversationAnalyticsService."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def GetConversationMetrics(self, request: analytics_pb2.GetConversationMetricsRequest,
                                     context: grpc.aio.ServicerContext) -> Any:
        caller = authctx.current()
        user_id = required_id("user_id", request.user_id)
        chat_id = required_id("chat_id", request.chat_id)
        if user_id != caller.user_id and not caller.is_admin:
            raise PermissionDenied("a user reads the analytics of their own conversations", reason="NOT_YOURS")
        where, params = ["kind = 'chat'", "subject_id = ?", "user_id = ?"], [chat_id, user_id]
        if not caller.is_admin:
            where.append("tenant_id = ?")
            params.append(caller.tenant_id)
        row = await self.db.fetch_one(f"{_TURNS} WHERE {' AND '.join(where)} GROUP BY subject_id, user_id", params)
        if row is None:
            raise NotFound(f"conversation {chat_id} of user {user_id} not found", reason="CONVERSATION_NOT_FOUND")
        turns = int(row["turns"])
        return analytics_pb2.GetConversationMetricsResponse(
            message_count=2 * turns, user_message_count=turns, assistant_message_count=turns,
            average_response_time=round(float(row["latency"] or 0.0) / 1000, 6),
            engagement_score=engagement(turns, float(row["last_at"]) - float(row["first_at"])),
            first_message_at=timestamp(float(row["first_at"])), last_message_at=timestamp(float(row["last_at"])),
        )

    def _range(self, start_date: str, end_date: str) -> tuple[list[str], list[Any]]:
        caller = authctx.current()
        start, end = window_of_dates(start_date, end_date, None)
        return (["kind = 'chat'", "tenant_id = ?", "occurred_at >= ?", "occurred_at < ?"],
                [caller.tenant_id, start, end])

    async def GetConversationDashboard(self, request: analytics_pb2.GetConversationDashboardRequest,
                                       context: grpc.aio.ServicerContext) -> Any:
        where, params = self._range(request.start_date, request.end_date)
        row = await self.db.fetch_one(
            "SELECT COUNT(DISTINCT subject_id) AS conversations, COUNT(*) AS turns,"
            f" COUNT(DISTINCT NULLIF(user_id, '')) AS users, AVG(latency_ms) AS latency FROM usage_records"
            f" WHERE {' AND '.join(where)}", params)
        row = row or {}
        return analytics_pb2.GetConversationDashboardResponse(
            total_conversations=int(row.get("conversations") or 0), total_messages=2 * int(row.get("turns") or 0),
            active_users=int(row.get("users") or 0),
            average_response_time=round(float(row.get("latency") or 0.0) / 1000, 6),
        )

    async def GetConversationReport(self, request: analytics_pb2.GetConversationReportRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        kind = reports.report_format(request.format)
        where, params = self._range(request.start_date, request.end_date)
        rows = await self.db.fetch_all(
            f"{_TURNS} WHERE {' AND '.join(where)} GROUP BY subject_id, user_id ORDER BY last_at DESC, subject_id",
            params)
        lines = [{
            "conversation_id": r["subject_id"], "user_id": r["user_id"], "message_count": 2 * int(r["turns"]),
            "average_response_time": round(float(r["latency"] or 0.0) / 1000, 6),
            "engagement_score": engagement(int(r["turns"]), float(r["last_at"]) - float(r["first_at"])),
            "first_message_at": _iso(float(r["first_at"])), "last_message_at": _iso(float(r["last_at"])),
        } for r in rows]
        about = {"report": "conversations", "start_date": request.start_date, "end_date": request.end_date}
        report = reports.body(kind, lines, about, name="conversation-report")
        return analytics_pb2.GetConversationReportResponse(report=report)


def _iso(seconds: float) -> str:
    stamp = timestamp(seconds)
    assert stamp is not None
    return str(stamp.ToJsonString())
