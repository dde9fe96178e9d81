import datetime

from agentmesh.v1 import common_pb2 as _common_pb2
from agentmesh.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageRecord(_message.Message):
    __slots__ = ("record_id", "tenant_id", "user_id", "unit", "kind", "subject_id", "agent_id", "team_id", "workflow_id", "provider", "model", "usage", "latency_ms", "outcome", "error_code", "cost_usd", "audio_seconds", "occurred_at")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    tenant_id: str
    user_id: str
    unit: str
    kind: str
    subject_id: str
    agent_id: str
    team_id: str
    workflow_id: str
    provider: str
    model: str
    usage: _common_pb2.TokenUsage
    latency_ms: float
    outcome: str
    error_code: str
    cost_usd: float
    audio_seconds: float
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, record_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., unit: _Optional[str] = ..., kind: _Optional[str] = ..., subject_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., team_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., latency_ms: _Optional[float] = ..., outcome: _Optional[str] = ..., error_code: _Optional[str] = ..., cost_usd: _Optional[float] = ..., audio_seconds: _Optional[float] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UsageSummary(_message.Message):
    __slots__ = ("request_count", "llm_call_count", "task_count", "workflow_run_count", "usage", "cost_usd", "active_users", "active_agents")
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    LLM_CALL_COUNT_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUN_COUNT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    request_count: int
    llm_call_count: int
    task_count: int
    workflow_run_count: int
    usage: _common_pb2.TokenUsage
    cost_usd: float
    active_users: int
    active_agents: int
    def __init__(self, request_count: _Optional[int] = ..., llm_call_count: _Optional[int] = ..., task_count: _Optional[int] = ..., workflow_run_count: _Optional[int] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., active_users: _Optional[int] = ..., active_agents: _Optional[int] = ...) -> None: ...

class UsageDataPoint(_message.Message):
    __slots__ = ("start_time", "group", "summary")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    group: str
    summary: UsageSummary
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., summary: _Optional[_Union[UsageSummary, _Mapping]] = ...) -> None: ...

class GetUsageMetricsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "agent_id", "user_id", "tenant_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    agent_id: str
    user_id: str
    tenant_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., agent_id: _Optional[str] = ..., user_id: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class GetUsageMetricsResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "summary", "points")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    summary: UsageSummary
    points: _containers.RepeatedCompositeFieldContainer[UsageDataPoint]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., summary: _Optional[_Union[UsageSummary, _Mapping]] = ..., points: _Optional[_Iterable[_Union[UsageDataPoint, _Mapping]]] = ...) -> None: ...

class PerformanceSummary(_message.Message):
    __slots__ = ("request_count", "error_count", "error_rate", "task_success_rate", "average_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "throughput_per_minute", "tokens_per_second")
    REQUEST_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    TASK_SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P50_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    request_count: int
    error_count: int
    error_rate: float
    task_success_rate: float
    average_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    throughput_per_minute: float
    tokens_per_second: float
    def __init__(self, request_count: _Optional[int] = ..., error_count: _Optional[int] = ..., error_rate: _Optional[float] = ..., task_success_rate: _Optional[float] = ..., average_latency_ms: _Optional[float] = ..., p50_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., p99_latency_ms: _Optional[float] = ..., throughput_per_minute: _Optional[float] = ..., tokens_per_second: _Optional[float] = ...) -> None: ...

class PerformanceDataPoint(_message.Message):
    __slots__ = ("start_time", "group", "summary")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    group: str
    summary: PerformanceSummary
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[str] = ..., summary: _Optional[_Union[PerformanceSummary, _Mapping]] = ...) -> None: ...

class GetPerformanceMetricsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "kind", "agent_id", "tenant_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    kind: str
    agent_id: str
    tenant_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., kind: _Optional[str] = ..., agent_id: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class GetPerformanceMetricsResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "summary", "points")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    summary: PerformanceSummary
    points: _containers.RepeatedCompositeFieldContainer[PerformanceDataPoint]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., summary: _Optional[_Union[PerformanceSummary, _Mapping]] = ..., points: _Optional[_Iterable[_Union[PerformanceDataPoint, _Mapping]]] = ...) -> None: ...

class CostBreakdownItem(_message.Message):
    __slots__ = ("group", "label", "cost_usd", "share", "usage", "llm_call_count")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LLM_CALL_COUNT_FIELD_NUMBER: _ClassVar[int]
    group: str
    label: str
    cost_usd: float
    share: float
    usage: _common_pb2.TokenUsage
    llm_call_count: int
    def __init__(self, group: _Optional[str] = ..., label: _Optional[str] = ..., cost_usd: _Optional[float] = ..., share: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., llm_call_count: _Optional[int] = ...) -> None: ...

class CostDataPoint(_message.Message):
    __slots__ = ("start_time", "cost_usd")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    cost_usd: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class GetCostAnalysisRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "granularity", "group_by", "tenant_id")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    tenant_id: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class GetCostAnalysisResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "total_cost_usd", "usage", "group_by", "breakdown", "points", "projected_month_cost_usd", "previous_period_cost_usd")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_USD_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_MONTH_COST_USD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PERIOD_COST_USD_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    total_cost_usd: float
    usage: _common_pb2.TokenUsage
    group_by: str
    breakdown: _containers.RepeatedCompositeFieldContainer[CostBreakdownItem]
    points: _containers.RepeatedCompositeFieldContainer[CostDataPoint]
    projected_month_cost_usd: float
    previous_period_cost_usd: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_cost_usd: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., group_by: _Optional[str] = ..., breakdown: _Optional[_Iterable[_Union[CostBreakdownItem, _Mapping]]] = ..., points: _Optional[_Iterable[_Union[CostDataPoint, _Mapping]]] = ..., projected_month_cost_usd: _Optional[float] = ..., previous_period_cost_usd: _Optional[float] = ...) -> None: ...

class DashboardEntry(_message.Message):
    __slots__ = ("id", "name", "count", "cost_usd")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    count: int
    cost_usd: float
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., count: _Optional[int] = ..., cost_usd: _Optional[float] = ...) -> None: ...

class GetAnalyticsDashboardRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "tenant_id")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    tenant_id: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class GetAnalyticsDashboardResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "usage", "performance", "total_cost_usd", "tasks_by_status", "top_agents", "top_workflows", "top_models", "daily")
    class TasksByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_USD_FIELD_NUMBER: _ClassVar[int]
    TASKS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    TOP_AGENTS_FIELD_NUMBER: _ClassVar[int]
    TOP_WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    TOP_MODELS_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    usage: UsageSummary
    performance: PerformanceSummary
    total_cost_usd: float
    tasks_by_status: _containers.ScalarMap[str, int]
    top_agents: _containers.RepeatedCompositeFieldContainer[DashboardEntry]
    top_workflows: _containers.RepeatedCompositeFieldContainer[DashboardEntry]
    top_models: _containers.RepeatedCompositeFieldContainer[DashboardEntry]
    daily: _containers.RepeatedCompositeFieldContainer[UsageDataPoint]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage: _Optional[_Union[UsageSummary, _Mapping]] = ..., performance: _Optional[_Union[PerformanceSummary, _Mapping]] = ..., total_cost_usd: _Optional[float] = ..., tasks_by_status: _Optional[_Mapping[str, int]] = ..., top_agents: _Optional[_Iterable[_Union[DashboardEntry, _Mapping]]] = ..., top_workflows: _Optional[_Iterable[_Union[DashboardEntry, _Mapping]]] = ..., top_models: _Optional[_Iterable[_Union[DashboardEntry, _Mapping]]] = ..., daily: _Optional[_Iterable[_Union[UsageDataPoint, _Mapping]]] = ...) -> None: ...

class ExportAnalyticsReportRequest(_message.Message):
    __slots__ = ("format", "report", "start_time", "end_time", "granularity", "group_by", "tenant_id")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    format: str
    report: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    group_by: str
    tenant_id: str
    def __init__(self, format: _Optional[str] = ..., report: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ..., group_by: _Optional[str] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class ExportAnalyticsReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _httpbody_pb2.HttpBody
    def __init__(self, report: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("recorded_count", "duplicate_count")
    RECORDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    recorded_count: int
    duplicate_count: int
    def __init__(self, recorded_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class GetConversationMetricsRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class GetConversationMetricsResponse(_message.Message):
    __slots__ = ("message_count", "user_message_count", "assistant_message_count", "average_response_time", "engagement_score", "first_message_at", "last_message_at")
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    ENGAGEMENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    FIRST_MESSAGE_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_AT_FIELD_NUMBER: _ClassVar[int]
    message_count: int
    user_message_count: int
    assistant_message_count: int
    average_response_time: float
    engagement_score: float
    first_message_at: _timestamp_pb2.Timestamp
    last_message_at: _timestamp_pb2.Timestamp
    def __init__(self, message_count: _Optional[int] = ..., user_message_count: _Optional[int] = ..., assistant_message_count: _Optional[int] = ..., average_response_time: _Optional[float] = ..., engagement_score: _Optional[float] = ..., first_message_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_message_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetConversationDashboardRequest(_message.Message):
    __slots__ = ("start_date", "end_date")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class GetConversationDashboardResponse(_message.Message):
    __slots__ = ("total_conversations", "total_messages", "active_users", "average_response_time")
    TOTAL_CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    total_conversations: int
    total_messages: int
    active_users: int
    average_response_time: float
    def __init__(self, total_conversations: _Optional[int] = ..., total_messages: _Optional[int] = ..., active_users: _Optional[int] = ..., average_response_time: _Optional[float] = ...) -> None: ...

class GetConversationReportRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "format")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    format: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class GetConversationReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _httpbody_pb2.HttpBody
    def __init__(self, report: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class Commit(_message.Message):
    __slots__ = ("commit_id", "tenant_id", "user_id", "commit_hash", "repository", "branch", "author", "author_email", "message", "timestamp", "files_changed", "additions", "deletions", "files", "created_at")
    COMMIT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMIT_HASH_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_EMAIL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    FILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    commit_id: str
    tenant_id: str
    user_id: str
    commit_hash: str
    repository: str
    branch: str
    author: str
    author_email: str
    message: str
    timestamp: _timestamp_pb2.Timestamp
    files_changed: int
    additions: int
    deletions: int
    files: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, commit_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., commit_hash: _Optional[str] = ..., repository: _Optional[str] = ..., branch: _Optional[str] = ..., author: _Optional[str] = ..., author_email: _Optional[str] = ..., message: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files_changed: _Optional[int] = ..., additions: _Optional[int] = ..., deletions: _Optional[int] = ..., files: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrackCommitRequest(_message.Message):
    __slots__ = ("commit_hash", "repository", "author", "message", "timestamp", "files_changed", "additions", "deletions", "branch", "author_email", "files")
    COMMIT_HASH_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    FILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_EMAIL_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    commit_hash: str
    repository: str
    author: str
    message: str
    timestamp: _timestamp_pb2.Timestamp
    files_changed: int
    additions: int
    deletions: int
    branch: str
    author_email: str
    files: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, commit_hash: _Optional[str] = ..., repository: _Optional[str] = ..., author: _Optional[str] = ..., message: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files_changed: _Optional[int] = ..., additions: _Optional[int] = ..., deletions: _Optional[int] = ..., branch: _Optional[str] = ..., author_email: _Optional[str] = ..., files: _Optional[_Iterable[str]] = ...) -> None: ...

class TrackCommitResponse(_message.Message):
    __slots__ = ("commit",)
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    commit: Commit
    def __init__(self, commit: _Optional[_Union[Commit, _Mapping]] = ...) -> None: ...

class ListCommitsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "repository", "author", "branch", "since", "until")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    repository: str
    author: str
    branch: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., repository: _Optional[str] = ..., author: _Optional[str] = ..., branch: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCommitsResponse(_message.Message):
    __slots__ = ("commits", "next_page_token", "total_size")
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[Commit]
    next_page_token: str
    total_size: int
    def __init__(self, commits: _Optional[_Iterable[_Union[Commit, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetCommitRequest(_message.Message):
    __slots__ = ("commit_id",)
    COMMIT_ID_FIELD_NUMBER: _ClassVar[int]
    commit_id: str
    def __init__(self, commit_id: _Optional[str] = ...) -> None: ...

class GetCommitResponse(_message.Message):
    __slots__ = ("commit",)
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    commit: Commit
    def __init__(self, commit: _Optional[_Union[Commit, _Mapping]] = ...) -> None: ...

class BatchTrackCommitsRequest(_message.Message):
    __slots__ = ("commits",)
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[Commit]
    def __init__(self, commits: _Optional[_Iterable[_Union[Commit, _Mapping]]] = ...) -> None: ...

class BatchTrackCommitsResponse(_message.Message):
    __slots__ = ("commits", "skipped_hashes")
    COMMITS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_HASHES_FIELD_NUMBER: _ClassVar[int]
    commits: _containers.RepeatedCompositeFieldContainer[Commit]
    skipped_hashes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, commits: _Optional[_Iterable[_Union[Commit, _Mapping]]] = ..., skipped_hashes: _Optional[_Iterable[str]] = ...) -> None: ...

class Pattern(_message.Message):
    __slots__ = ("pattern_id", "tenant_id", "user_id", "analysis_id", "kind", "title", "description", "confidence", "data", "repository", "start_time", "end_time", "created_at")
    PATTERN_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    pattern_id: str
    tenant_id: str
    user_id: str
    analysis_id: str
    kind: str
    title: str
    description: str
    confidence: float
    data: _struct_pb2.Struct
    repository: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, pattern_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., analysis_id: _Optional[str] = ..., kind: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., confidence: _Optional[float] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., repository: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBehaviorPatternsRequest(_message.Message):
    __slots__ = ("user_id", "repository", "kind", "min_confidence")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    repository: str
    kind: str
    min_confidence: float
    def __init__(self, user_id: _Optional[str] = ..., repository: _Optional[str] = ..., kind: _Optional[str] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class GetBehaviorPatternsResponse(_message.Message):
    __slots__ = ("patterns", "analyzed_at")
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    ANALYZED_AT_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedCompositeFieldContainer[Pattern]
    analyzed_at: _timestamp_pb2.Timestamp
    def __init__(self, patterns: _Optional[_Iterable[_Union[Pattern, _Mapping]]] = ..., analyzed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProductivityDataPoint(_message.Message):
    __slots__ = ("start_time", "commit_count", "additions", "deletions", "files_changed")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    COMMIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    DELETIONS_FIELD_NUMBER: _ClassVar[int]
    FILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    commit_count: int
    additions: int
    deletions: int
    files_changed: int
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., commit_count: _Optional[int] = ..., additions: _Optional[int] = ..., deletions: _Optional[int] = ..., files_changed: _Optional[int] = ...) -> None: ...

class GetProductivityMetricsRequest(_message.Message):
    __slots__ = ("user_id", "repository", "start_time", "end_time", "granularity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    repository: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    granularity: str
    def __init__(self, user_id: _Optional[str] = ..., repository: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., granularity: _Optional[str] = ...) -> None: ...

class GetProductivityMetricsResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "commit_count", "active_days", "average_commits_per_day", "average_commit_size", "total_additions", "total_deletions", "total_files_changed", "longest_streak_days", "current_streak_days", "most_productive_hour", "most_productive_weekday", "points")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    COMMIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_DAYS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_COMMITS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_COMMIT_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ADDITIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DELETIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FILES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    LONGEST_STREAK_DAYS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STREAK_DAYS_FIELD_NUMBER: _ClassVar[int]
    MOST_PRODUCTIVE_HOUR_FIELD_NUMBER: _ClassVar[int]
    MOST_PRODUCTIVE_WEEKDAY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    commit_count: int
    active_days: int
    average_commits_per_day: float
    average_commit_size: float
    total_additions: int
    total_deletions: int
    total_files_changed: int
    longest_streak_days: int
    current_streak_days: int
    most_productive_hour: int
    most_productive_weekday: str
    points: _containers.RepeatedCompositeFieldContainer[ProductivityDataPoint]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., commit_count: _Optional[int] = ..., active_days: _Optional[int] = ..., average_commits_per_day: _Optional[float] = ..., average_commit_size: _Optional[float] = ..., total_additions: _Optional[int] = ..., total_deletions: _Optional[int] = ..., total_files_changed: _Optional[int] = ..., longest_streak_days: _Optional[int] = ..., current_streak_days: _Optional[int] = ..., most_productive_hour: _Optional[int] = ..., most_productive_weekday: _Optional[str] = ..., points: _Optional[_Iterable[_Union[ProductivityDataPoint, _Mapping]]] = ...) -> None: ...

class TrendPoint(_message.Message):
    __slots__ = ("start_time", "value")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    value: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ...) -> None: ...

class Trend(_message.Message):
    __slots__ = ("metric", "period", "direction", "current_value", "previous_value", "change_percent", "slope", "points")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VALUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VALUE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SLOPE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    period: str
    direction: str
    current_value: float
    previous_value: float
    change_percent: float
    slope: float
    points: _containers.RepeatedCompositeFieldContainer[TrendPoint]
    def __init__(self, metric: _Optional[str] = ..., period: _Optional[str] = ..., direction: _Optional[str] = ..., current_value: _Optional[float] = ..., previous_value: _Optional[float] = ..., change_percent: _Optional[float] = ..., slope: _Optional[float] = ..., points: _Optional[_Iterable[_Union[TrendPoint, _Mapping]]] = ...) -> None: ...

class GetTrendsRequest(_message.Message):
    __slots__ = ("metric", "period", "periods", "user_id", "repository")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    metric: str
    period: str
    periods: int
    user_id: str
    repository: str
    def __init__(self, metric: _Optional[str] = ..., period: _Optional[str] = ..., periods: _Optional[int] = ..., user_id: _Optional[str] = ..., repository: _Optional[str] = ...) -> None: ...

class GetTrendsResponse(_message.Message):
    __slots__ = ("trends",)
    TRENDS_FIELD_NUMBER: _ClassVar[int]
    trends: _containers.RepeatedCompositeFieldContainer[Trend]
    def __init__(self, trends: _Optional[_Iterable[_Union[Trend, _Mapping]]] = ...) -> None: ...

class AnalyzeBehaviorRequest(_message.Message):
    __slots__ = ("user_id", "repository", "start_time", "end_time", "kinds")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    repository: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., repository: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class AnalyzeBehaviorResponse(_message.Message):
    __slots__ = ("analysis_id", "status", "commit_count", "created_at")
    ANALYSIS_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    analysis_id: str
    status: str
    commit_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, analysis_id: _Optional[str] = ..., status: _Optional[str] = ..., commit_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "name", "description", "tier", "price_cents", "currency", "interval", "features", "limits", "overage_cents_per_1k_tokens", "trial_days", "active")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PRICE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_CENTS_PER_1K_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    name: str
    description: str
    tier: str
    price_cents: int
    currency: str
    interval: str
    features: _containers.RepeatedScalarFieldContainer[str]
    limits: _struct_pb2.Struct
    overage_cents_per_1k_tokens: float
    trial_days: int
    active: bool
    def __init__(self, plan_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., tier: _Optional[str] = ..., price_cents: _Optional[int] = ..., currency: _Optional[str] = ..., interval: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., limits: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., overage_cents_per_1k_tokens: _Optional[float] = ..., trial_days: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("subscription_id", "tenant_id", "plan_id", "plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end", "cancelled_at", "trial_end", "pending_plan_id", "created_at", "updated_at")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    TRIAL_END_FIELD_NUMBER: _ClassVar[int]
    PENDING_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    tenant_id: str
    plan_id: str
    plan: Plan
    status: str
    current_period_start: _timestamp_pb2.Timestamp
    current_period_end: _timestamp_pb2.Timestamp
    cancel_at_period_end: bool
    cancelled_at: _timestamp_pb2.Timestamp
    trial_end: _timestamp_pb2.Timestamp
    pending_plan_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, subscription_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., plan_id: _Optional[str] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ..., status: _Optional[str] = ..., current_period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_at_period_end: _Optional[bool] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trial_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pending_plan_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("description", "quantity", "unit_amount_cents", "amount_cents")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    description: str
    quantity: float
    unit_amount_cents: float
    amount_cents: int
    def __init__(self, description: _Optional[str] = ..., quantity: _Optional[float] = ..., unit_amount_cents: _Optional[float] = ..., amount_cents: _Optional[int] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("invoice_id", "tenant_id", "number", "status", "currency", "amount_due_cents", "amount_paid_cents", "lines", "period_start", "period_end", "due_at", "paid_at", "hosted_url", "pdf_url", "created_at")
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_DUE_CENTS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_PAID_CENTS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    HOSTED_URL_FIELD_NUMBER: _ClassVar[int]
    PDF_URL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    invoice_id: str
    tenant_id: str
    number: str
    status: str
    currency: str
    amount_due_cents: int
    amount_paid_cents: int
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    due_at: _timestamp_pb2.Timestamp
    paid_at: _timestamp_pb2.Timestamp
    hosted_url: str
    pdf_url: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, invoice_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., number: _Optional[str] = ..., status: _Optional[str] = ..., currency: _Optional[str] = ..., amount_due_cents: _Optional[int] = ..., amount_paid_cents: _Optional[int] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hosted_url: _Optional[str] = ..., pdf_url: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BillingUsageItem(_message.Message):
    __slots__ = ("metric", "quantity", "included", "overage", "amount_cents")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    quantity: float
    included: float
    overage: float
    amount_cents: int
    def __init__(self, metric: _Optional[str] = ..., quantity: _Optional[float] = ..., included: _Optional[float] = ..., overage: _Optional[float] = ..., amount_cents: _Optional[int] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "tier")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    tier: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., tier: _Optional[str] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token", "total_size")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    next_page_token: str
    total_size: int
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetSubscriptionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class UpdateSubscriptionRequest(_message.Message):
    __slots__ = ("plan_id", "cancel_at_period_end", "update_mask")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    cancel_at_period_end: bool
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, plan_id: _Optional[str] = ..., cancel_at_period_end: _Optional[bool] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class CancelSubscriptionRequest(_message.Message):
    __slots__ = ("at_period_end", "reason")
    AT_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    at_period_end: bool
    reason: str
    def __init__(self, at_period_end: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelSubscriptionResponse(_message.Message):
    __slots__ = ("subscription",)
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    subscription: Subscription
    def __init__(self, subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class GetBillingUsageRequest(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetBillingUsageResponse(_message.Message):
    __slots__ = ("start_time", "end_time", "plan_id", "items", "usage", "overage_cents", "estimated_total_cents", "currency")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    OVERAGE_CENTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TOTAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    plan_id: str
    items: _containers.RepeatedCompositeFieldContainer[BillingUsageItem]
    usage: _common_pb2.TokenUsage
    overage_cents: int
    estimated_total_cents: int
    currency: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., plan_id: _Optional[str] = ..., items: _Optional[_Iterable[_Union[BillingUsageItem, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., overage_cents: _Optional[int] = ..., estimated_total_cents: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "status")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    status: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "next_page_token", "total_size")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[Invoice]
    next_page_token: str
    total_size: int
    def __init__(self, invoices: _Optional[_Iterable[_Union[Invoice, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...
