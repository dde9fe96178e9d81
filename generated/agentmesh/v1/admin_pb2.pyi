import datetime

from agentmesh.v1 import common_pb2 as _common_pb2
from agentmesh.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServiceStatus(_message.Message):
    __slots__ = ("healthy", "uptime", "status", "version", "instances", "latency_ms", "message", "checked_at")
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    UPTIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    uptime: int
    status: str
    version: str
    instances: int
    latency_ms: float
    message: str
    checked_at: _timestamp_pb2.Timestamp
    def __init__(self, healthy: _Optional[bool] = ..., uptime: _Optional[int] = ..., status: _Optional[str] = ..., version: _Optional[str] = ..., instances: _Optional[int] = ..., latency_ms: _Optional[float] = ..., message: _Optional[str] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UnitMetrics(_message.Message):
    __slots__ = ("requests_per_minute", "error_rate", "average_latency_ms", "p95_latency_ms", "in_flight", "cpu_percent", "memory_bytes")
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    requests_per_minute: float
    error_rate: float
    average_latency_ms: float
    p95_latency_ms: float
    in_flight: int
    cpu_percent: float
    memory_bytes: int
    def __init__(self, requests_per_minute: _Optional[float] = ..., error_rate: _Optional[float] = ..., average_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., in_flight: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class GetPlatformStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPlatformStatsResponse(_message.Message):
    __slots__ = ("total_tenants", "total_users", "active_users", "total_agents", "running_agents", "total_tasks", "active_tasks", "tasks_last_24h", "total_workflows", "workflow_runs_last_24h", "total_persona_instances", "total_conversations", "usage_last_24h", "active_connections", "generated_at")
    TOTAL_TENANTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_USERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_AGENTS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_AGENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TASKS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TASKS_FIELD_NUMBER: _ClassVar[int]
    TASKS_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_RUNS_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PERSONA_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_LAST_24H_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    total_tenants: int
    total_users: int
    active_users: int
    total_agents: int
    running_agents: int
    total_tasks: int
    active_tasks: int
    tasks_last_24h: int
    total_workflows: int
    workflow_runs_last_24h: int
    total_persona_instances: int
    total_conversations: int
    usage_last_24h: _common_pb2.TokenUsage
    active_connections: int
    generated_at: _timestamp_pb2.Timestamp
    def __init__(self, total_tenants: _Optional[int] = ..., total_users: _Optional[int] = ..., active_users: _Optional[int] = ..., total_agents: _Optional[int] = ..., running_agents: _Optional[int] = ..., total_tasks: _Optional[int] = ..., active_tasks: _Optional[int] = ..., tasks_last_24h: _Optional[int] = ..., total_workflows: _Optional[int] = ..., workflow_runs_last_24h: _Optional[int] = ..., total_persona_instances: _Optional[int] = ..., total_conversations: _Optional[int] = ..., usage_last_24h: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., active_connections: _Optional[int] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BroadcastRequest(_message.Message):
    __slots__ = ("message", "title", "level", "tenant_id", "persist", "expires_at")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    message: str
    title: str
    level: str
    tenant_id: str
    persist: bool
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, message: _Optional[str] = ..., title: _Optional[str] = ..., level: _Optional[str] = ..., tenant_id: _Optional[str] = ..., persist: _Optional[bool] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BroadcastResponse(_message.Message):
    __slots__ = ("event_id", "recipient_count", "delivered_count", "sent_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    recipient_count: int
    delivered_count: int
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., recipient_count: _Optional[int] = ..., delivered_count: _Optional[int] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSystemHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSystemHealthResponse(_message.Message):
    __slots__ = ("status", "services", "version", "uptime", "maintenance", "checked_at")
    class ServicesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ServiceStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ServiceStatus, _Mapping]] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    status: str
    services: _containers.MessageMap[str, ServiceStatus]
    version: str
    uptime: int
    maintenance: bool
    checked_at: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[str] = ..., services: _Optional[_Mapping[str, ServiceStatus]] = ..., version: _Optional[str] = ..., uptime: _Optional[int] = ..., maintenance: _Optional[bool] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSystemMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSystemMetricsResponse(_message.Message):
    __slots__ = ("cpu_percent", "memory_percent", "memory_used_bytes", "disk_percent", "requests_per_minute", "error_rate", "average_latency_ms", "p95_latency_ms", "websocket_connections", "stream_connections", "task_queue_depth", "events_per_minute", "cache_hit_rate", "units", "collected_at")
    class UnitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: UnitMetrics
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[UnitMetrics, _Mapping]] = ...) -> None: ...
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    WEBSOCKET_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    STREAM_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TASK_QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    EVENTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_AT_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    disk_percent: float
    requests_per_minute: float
    error_rate: float
    average_latency_ms: float
    p95_latency_ms: float
    websocket_connections: int
    stream_connections: int
    task_queue_depth: int
    events_per_minute: float
    cache_hit_rate: float
    units: _containers.MessageMap[str, UnitMetrics]
    collected_at: _timestamp_pb2.Timestamp
    def __init__(self, cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., disk_percent: _Optional[float] = ..., requests_per_minute: _Optional[float] = ..., error_rate: _Optional[float] = ..., average_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., websocket_connections: _Optional[int] = ..., stream_connections: _Optional[int] = ..., task_queue_depth: _Optional[int] = ..., events_per_minute: _Optional[float] = ..., cache_hit_rate: _Optional[float] = ..., units: _Optional[_Mapping[str, UnitMetrics]] = ..., collected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetServicesStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServicesStatusResponse(_message.Message):
    __slots__ = ("services",)
    class ServicesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ServiceStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ServiceStatus, _Mapping]] = ...) -> None: ...
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.MessageMap[str, ServiceStatus]
    def __init__(self, services: _Optional[_Mapping[str, ServiceStatus]] = ...) -> None: ...

class GetSystemConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSystemConfigResponse(_message.Message):
    __slots__ = ("config", "version", "updated_at", "updated_by")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    version: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class UpdateSystemConfigRequest(_message.Message):
    __slots__ = ("config", "reason", "update_mask", "expected_version")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    reason: str
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reason: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateSystemConfigResponse(_message.Message):
    __slots__ = ("config", "version", "updated_at", "updated_by")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    version: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ConfigVersion(_message.Message):
    __slots__ = ("scope", "version", "config", "changed_keys", "reason", "updated_by", "created_at")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHANGED_KEYS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    scope: str
    version: int
    config: _struct_pb2.Struct
    changed_keys: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    updated_by: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, scope: _Optional[str] = ..., version: _Optional[int] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., changed_keys: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., updated_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConfigHistoryRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "scope", "since")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    scope: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., scope: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConfigHistoryResponse(_message.Message):
    __slots__ = ("versions", "next_page_token", "total_size")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ConfigVersion]
    next_page_token: str
    total_size: int
    def __init__(self, versions: _Optional[_Iterable[_Union[ConfigVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class MaintenanceMode(_message.Message):
    __slots__ = ("enabled", "message", "updated_at", "updated_by", "expected_end_at")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_END_AT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    message: str
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    expected_end_at: _timestamp_pb2.Timestamp
    def __init__(self, enabled: _Optional[bool] = ..., message: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., expected_end_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetMaintenanceModeRequest(_message.Message):
    __slots__ = ("enabled", "message", "expected_end_at")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_END_AT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    message: str
    expected_end_at: _timestamp_pb2.Timestamp
    def __init__(self, enabled: _Optional[bool] = ..., message: _Optional[str] = ..., expected_end_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetMaintenanceModeResponse(_message.Message):
    __slots__ = ("maintenance",)
    MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    maintenance: MaintenanceMode
    def __init__(self, maintenance: _Optional[_Union[MaintenanceMode, _Mapping]] = ...) -> None: ...

class GetMaintenanceModeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMaintenanceModeResponse(_message.Message):
    __slots__ = ("maintenance",)
    MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    maintenance: MaintenanceMode
    def __init__(self, maintenance: _Optional[_Union[MaintenanceMode, _Mapping]] = ...) -> None: ...

class ListSystemLogsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "level", "unit", "since", "until", "search")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    level: str
    unit: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    search: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., level: _Optional[str] = ..., unit: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., search: _Optional[str] = ...) -> None: ...

class ListSystemLogsResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "total_size")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.LogEntry]
    next_page_token: str
    total_size: int
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.LogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("audit_entry_id", "time", "actor_id", "actor_role", "tenant_id", "method", "resource_type", "resource_id", "outcome", "status_code", "request", "ip_address", "user_agent", "request_id")
    AUDIT_ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    audit_entry_id: str
    time: _timestamp_pb2.Timestamp
    actor_id: str
    actor_role: str
    tenant_id: str
    method: str
    resource_type: str
    resource_id: str
    outcome: str
    status_code: str
    request: _struct_pb2.Struct
    ip_address: str
    user_agent: str
    request_id: str
    def __init__(self, audit_entry_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., tenant_id: _Optional[str] = ..., method: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ..., outcome: _Optional[str] = ..., status_code: _Optional[str] = ..., request: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., ip_address: _Optional[str] = ..., user_agent: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListAuditLogRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "actor_id", "tenant_id", "method", "resource_type", "resource_id", "since", "until")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    actor_id: str
    tenant_id: str
    method: str
    resource_type: str
    resource_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., actor_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., method: _Optional[str] = ..., resource_type: _Optional[str] = ..., resource_id: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditLogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token", "total_size")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    total_size: int
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetBotConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBotConfigResponse(_message.Message):
    __slots__ = ("config", "version", "updated_at", "updated_by")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    version: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class UpdateBotConfigRequest(_message.Message):
    __slots__ = ("config", "reason", "update_mask", "expected_version")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    reason: str
    update_mask: _field_mask_pb2.FieldMask
    expected_version: int
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reason: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateBotConfigResponse(_message.Message):
    __slots__ = ("config", "version", "updated_at", "updated_by")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    version: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class GetBotStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBotStatusResponse(_message.Message):
    __slots__ = ("status", "healthy", "uptime", "version", "active_sessions", "connected_users", "last_activity_at", "dependencies")
    class DependenciesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ServiceStatus
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ServiceStatus, _Mapping]] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    UPTIME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_USERS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_AT_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    status: str
    healthy: bool
    uptime: int
    version: str
    active_sessions: int
    connected_users: int
    last_activity_at: _timestamp_pb2.Timestamp
    dependencies: _containers.MessageMap[str, ServiceStatus]
    def __init__(self, status: _Optional[str] = ..., healthy: _Optional[bool] = ..., uptime: _Optional[int] = ..., version: _Optional[str] = ..., active_sessions: _Optional[int] = ..., connected_users: _Optional[int] = ..., last_activity_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dependencies: _Optional[_Mapping[str, ServiceStatus]] = ...) -> None: ...

class GetBotStatsRequest(_message.Message):
    __slots__ = ("start_date", "end_date")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class GetBotStatsResponse(_message.Message):
    __slots__ = ("total_conversations", "total_messages", "text_messages", "audio_messages", "active_users", "average_response_time", "error_count", "command_usage", "languages")
    class CommandUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class LanguagesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TOTAL_CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TEXT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_USERS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_USAGE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    total_conversations: int
    total_messages: int
    text_messages: int
    audio_messages: int
    active_users: int
    average_response_time: float
    error_count: int
    command_usage: _containers.ScalarMap[str, int]
    languages: _containers.ScalarMap[str, int]
    def __init__(self, total_conversations: _Optional[int] = ..., total_messages: _Optional[int] = ..., text_messages: _Optional[int] = ..., audio_messages: _Optional[int] = ..., active_users: _Optional[int] = ..., average_response_time: _Optional[float] = ..., error_count: _Optional[int] = ..., command_usage: _Optional[_Mapping[str, int]] = ..., languages: _Optional[_Mapping[str, int]] = ...) -> None: ...

class BotCommand(_message.Message):
    __slots__ = ("command_id", "name", "description", "action", "response_text", "prompt_template", "webhook_url", "usage", "enabled", "required_role", "created_by", "invocation_count", "created_at", "updated_at")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    name: str
    description: str
    action: str
    response_text: str
    prompt_template: str
    webhook_url: str
    usage: str
    enabled: bool
    required_role: str
    created_by: str
    invocation_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, command_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., action: _Optional[str] = ..., response_text: _Optional[str] = ..., prompt_template: _Optional[str] = ..., webhook_url: _Optional[str] = ..., usage: _Optional[str] = ..., enabled: _Optional[bool] = ..., required_role: _Optional[str] = ..., created_by: _Optional[str] = ..., invocation_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBotCommandsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "enabled")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    enabled: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ListBotCommandsResponse(_message.Message):
    __slots__ = ("commands", "next_page_token", "total_size")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[BotCommand]
    next_page_token: str
    total_size: int
    def __init__(self, commands: _Optional[_Iterable[_Union[BotCommand, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class CreateBotCommandRequest(_message.Message):
    __slots__ = ("name", "description", "action", "response_text", "prompt_template", "webhook_url", "usage", "enabled", "required_role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    action: str
    response_text: str
    prompt_template: str
    webhook_url: str
    usage: str
    enabled: bool
    required_role: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., action: _Optional[str] = ..., response_text: _Optional[str] = ..., prompt_template: _Optional[str] = ..., webhook_url: _Optional[str] = ..., usage: _Optional[str] = ..., enabled: _Optional[bool] = ..., required_role: _Optional[str] = ...) -> None: ...

class CreateBotCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: BotCommand
    def __init__(self, command: _Optional[_Union[BotCommand, _Mapping]] = ...) -> None: ...

class UpdateBotCommandRequest(_message.Message):
    __slots__ = ("command_id", "name", "description", "action", "response_text", "prompt_template", "webhook_url", "usage", "enabled", "required_role", "update_mask")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    name: str
    description: str
    action: str
    response_text: str
    prompt_template: str
    webhook_url: str
    usage: str
    enabled: bool
    required_role: str
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, command_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., action: _Optional[str] = ..., response_text: _Optional[str] = ..., prompt_template: _Optional[str] = ..., webhook_url: _Optional[str] = ..., usage: _Optional[str] = ..., enabled: _Optional[bool] = ..., required_role: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateBotCommandResponse(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: BotCommand
    def __init__(self, command: _Optional[_Union[BotCommand, _Mapping]] = ...) -> None: ...

class DeleteBotCommandRequest(_message.Message):
    __slots__ = ("command_id",)
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    def __init__(self, command_id: _Optional[str] = ...) -> None: ...

class DeleteBotCommandResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InvokeBotCommandRequest(_message.Message):
    __slots__ = ("name", "args", "conversation_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    args: str
    conversation_id: str
    def __init__(self, name: _Optional[str] = ..., args: _Optional[str] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class InvokeBotCommandResponse(_message.Message):
    __slots__ = ("found", "accepted", "action", "reply_text", "prompt", "error_message", "invocation_count")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REPLY_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    found: bool
    accepted: bool
    action: str
    reply_text: str
    prompt: str
    error_message: str
    invocation_count: int
    def __init__(self, found: _Optional[bool] = ..., accepted: _Optional[bool] = ..., action: _Optional[str] = ..., reply_text: _Optional[str] = ..., prompt: _Optional[str] = ..., error_message: _Optional[str] = ..., invocation_count: _Optional[int] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("notification_id", "tenant_id", "user_id", "title", "message", "level", "channel", "kind", "subject_id", "data", "status", "read", "read_at", "sender_id", "created_at", "delivered_at")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    tenant_id: str
    user_id: str
    title: str
    message: str
    level: str
    channel: str
    kind: str
    subject_id: str
    data: _struct_pb2.Struct
    status: str
    read: bool
    read_at: _timestamp_pb2.Timestamp
    sender_id: str
    created_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    def __init__(self, notification_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., user_id: _Optional[str] = ..., title: _Optional[str] = ..., message: _Optional[str] = ..., level: _Optional[str] = ..., channel: _Optional[str] = ..., kind: _Optional[str] = ..., subject_id: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., status: _Optional[str] = ..., read: _Optional[bool] = ..., read_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NotificationPreferences(_message.Message):
    __slots__ = ("user_id", "in_app_enabled", "email_enabled", "webhook_enabled", "email", "webhook_url", "min_level", "muted_kinds", "digest", "quiet_hours_start", "quiet_hours_end", "timezone", "updated_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    IN_APP_ENABLED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ENABLED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ENABLED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MUTED_KINDS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_START_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_END_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    in_app_enabled: bool
    email_enabled: bool
    webhook_enabled: bool
    email: str
    webhook_url: str
    min_level: str
    muted_kinds: _containers.RepeatedScalarFieldContainer[str]
    digest: str
    quiet_hours_start: str
    quiet_hours_end: str
    timezone: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., in_app_enabled: _Optional[bool] = ..., email_enabled: _Optional[bool] = ..., webhook_enabled: _Optional[bool] = ..., email: _Optional[str] = ..., webhook_url: _Optional[str] = ..., min_level: _Optional[str] = ..., muted_kinds: _Optional[_Iterable[str]] = ..., digest: _Optional[str] = ..., quiet_hours_start: _Optional[str] = ..., quiet_hours_end: _Optional[str] = ..., timezone: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "unread_only", "level")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    unread_only: bool
    level: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., unread_only: _Optional[bool] = ..., level: _Optional[str] = ...) -> None: ...

class ListNotificationsResponse(_message.Message):
    __slots__ = ("notifications", "unread_count", "next_page_token", "total_size")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    unread_count: int
    next_page_token: str
    total_size: int
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., unread_count: _Optional[int] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class WatchNotificationsRequest(_message.Message):
    __slots__ = ("level", "since_id")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SINCE_ID_FIELD_NUMBER: _ClassVar[int]
    level: str
    since_id: str
    def __init__(self, level: _Optional[str] = ..., since_id: _Optional[str] = ...) -> None: ...

class WatchNotificationsResponse(_message.Message):
    __slots__ = ("notification",)
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    notification: Notification
    def __init__(self, notification: _Optional[_Union[Notification, _Mapping]] = ...) -> None: ...

class SendNotificationRequest(_message.Message):
    __slots__ = ("user_id", "tenant_id", "title", "message", "channel", "level", "kind", "subject_id", "data")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    tenant_id: str
    title: str
    message: str
    channel: str
    level: str
    kind: str
    subject_id: str
    data: _struct_pb2.Struct
    def __init__(self, user_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., title: _Optional[str] = ..., message: _Optional[str] = ..., channel: _Optional[str] = ..., level: _Optional[str] = ..., kind: _Optional[str] = ..., subject_id: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SendNotificationResponse(_message.Message):
    __slots__ = ("notifications", "recipient_count")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    recipient_count: int
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., recipient_count: _Optional[int] = ...) -> None: ...

class GetNotificationPreferencesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetNotificationPreferencesResponse(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: NotificationPreferences
    def __init__(self, preferences: _Optional[_Union[NotificationPreferences, _Mapping]] = ...) -> None: ...

class UpdateNotificationPreferencesRequest(_message.Message):
    __slots__ = ("in_app_enabled", "email_enabled", "webhook_enabled", "email", "webhook_url", "min_level", "muted_kinds", "digest", "quiet_hours_start", "quiet_hours_end", "timezone", "update_mask")
    IN_APP_ENABLED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ENABLED_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ENABLED_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MUTED_KINDS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_START_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_END_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    in_app_enabled: bool
    email_enabled: bool
    webhook_enabled: bool
    email: str
    webhook_url: str
    min_level: str
    muted_kinds: _containers.RepeatedScalarFieldContainer[str]
    digest: str
    quiet_hours_start: str
    quiet_hours_end: str
    timezone: str
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, in_app_enabled: _Optional[bool] = ..., email_enabled: _Optional[bool] = ..., webhook_enabled: _Optional[bool] = ..., email: _Optional[str] = ..., webhook_url: _Optional[str] = ..., min_level: _Optional[str] = ..., muted_kinds: _Optional[_Iterable[str]] = ..., digest: _Optional[str] = ..., quiet_hours_start: _Optional[str] = ..., quiet_hours_end: _Optional[str] = ..., timezone: _Optional[str] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateNotificationPreferencesResponse(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: NotificationPreferences
    def __init__(self, preferences: _Optional[_Union[NotificationPreferences, _Mapping]] = ...) -> None: ...

class ListNotificationHistoryRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "channel", "status", "since", "until")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    channel: str
    status: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., channel: _Optional[str] = ..., status: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListNotificationHistoryResponse(_message.Message):
    __slots__ = ("notifications", "next_page_token", "total_size")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    next_page_token: str
    total_size: int
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class MarkNotificationReadRequest(_message.Message):
    __slots__ = ("notification_id",)
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    def __init__(self, notification_id: _Optional[str] = ...) -> None: ...

class MarkNotificationReadResponse(_message.Message):
    __slots__ = ("notification",)
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    notification: Notification
    def __init__(self, notification: _Optional[_Union[Notification, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("patterns", "all_tenants", "since_id")
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    ALL_TENANTS_FIELD_NUMBER: _ClassVar[int]
    SINCE_ID_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    all_tenants: bool
    since_id: str
    def __init__(self, patterns: _Optional[_Iterable[str]] = ..., all_tenants: _Optional[bool] = ..., since_id: _Optional[str] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.Event
    def __init__(self, event: _Optional[_Union[_common_pb2.Event, _Mapping]] = ...) -> None: ...

class PublishEventRequest(_message.Message):
    __slots__ = ("event", "events")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.Event
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.Event]
    def __init__(self, event: _Optional[_Union[_common_pb2.Event, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_common_pb2.Event, _Mapping]]] = ...) -> None: ...

class PublishEventResponse(_message.Message):
    __slots__ = ("event", "events")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.Event
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.Event]
    def __init__(self, event: _Optional[_Union[_common_pb2.Event, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_common_pb2.Event, _Mapping]]] = ...) -> None: ...

class Integration(_message.Message):
    __slots__ = ("integration_id", "tenant_id", "kind", "name", "url", "events", "secret", "has_secret", "config", "enabled", "status", "failure_count", "last_delivery_at", "created_by", "created_at", "updated_at")
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    HAS_SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_DELIVERY_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    tenant_id: str
    kind: str
    name: str
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    has_secret: bool
    config: _struct_pb2.Struct
    enabled: bool
    status: str
    failure_count: int
    last_delivery_at: _timestamp_pb2.Timestamp
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, integration_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., has_secret: _Optional[bool] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., enabled: _Optional[bool] = ..., status: _Optional[str] = ..., failure_count: _Optional[int] = ..., last_delivery_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "integration_id", "event_id", "event_type", "status", "attempts", "response_status_code", "response_body", "error", "latency_ms", "test", "created_at", "delivered_at", "next_retry_at")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    integration_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    response_status_code: int
    response_body: str
    error: str
    latency_ms: float
    test: bool
    created_at: _timestamp_pb2.Timestamp
    delivered_at: _timestamp_pb2.Timestamp
    next_retry_at: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., integration_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., response_status_code: _Optional[int] = ..., response_body: _Optional[str] = ..., error: _Optional[str] = ..., latency_ms: _Optional[float] = ..., test: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListIntegrationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "kind", "enabled")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    kind: str
    enabled: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., kind: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ListIntegrationsResponse(_message.Message):
    __slots__ = ("integrations", "next_page_token", "total_size")
    INTEGRATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    integrations: _containers.RepeatedCompositeFieldContainer[Integration]
    next_page_token: str
    total_size: int
    def __init__(self, integrations: _Optional[_Iterable[_Union[Integration, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class CreateIntegrationRequest(_message.Message):
    __slots__ = ("kind", "name", "url", "events", "secret", "config", "enabled")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    config: _struct_pb2.Struct
    enabled: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class CreateIntegrationResponse(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class GetIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    def __init__(self, integration_id: _Optional[str] = ...) -> None: ...

class GetIntegrationResponse(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class UpdateIntegrationRequest(_message.Message):
    __slots__ = ("integration_id", "name", "url", "events", "secret", "config", "enabled", "update_mask")
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    name: str
    url: str
    events: _containers.RepeatedScalarFieldContainer[str]
    secret: str
    config: _struct_pb2.Struct
    enabled: bool
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, integration_id: _Optional[str] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., secret: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., enabled: _Optional[bool] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateIntegrationResponse(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class DeleteIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    def __init__(self, integration_id: _Optional[str] = ...) -> None: ...

class DeleteIntegrationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TestIntegrationRequest(_message.Message):
    __slots__ = ("integration_id", "event_type", "data")
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    event_type: str
    data: _struct_pb2.Struct
    def __init__(self, integration_id: _Optional[str] = ..., event_type: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TestIntegrationResponse(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: Delivery
    def __init__(self, delivery: _Optional[_Union[Delivery, _Mapping]] = ...) -> None: ...

class ListIntegrationDeliveriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "limit", "offset", "filter", "order_by", "integration_id", "status", "event_type", "since")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    limit: int
    offset: int
    filter: str
    order_by: str
    integration_id: str
    status: str
    event_type: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ..., integration_id: _Optional[str] = ..., status: _Optional[str] = ..., event_type: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListIntegrationDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token", "total_size")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    next_page_token: str
    total_size: int
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...
