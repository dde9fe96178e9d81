from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
POLICY_FIELD_NUMBER: _ClassVar[int]
policy: _descriptor.FieldDescriptor
EVENTS_FIELD_NUMBER: _ClassVar[int]
events: _descriptor.FieldDescriptor
UNIT_FIELD_NUMBER: _ClassVar[int]
unit: _descriptor.FieldDescriptor
RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
rate_limits: _descriptor.FieldDescriptor

class Policy(_message.Message):
    __slots__ = ("public", "roles", "permissions", "rate_limit", "success_status", "websocket_protocol", "maintenance_exempt", "audit", "rate_limit_fail_closed")
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_STATUS_FIELD_NUMBER: _ClassVar[int]
    WEBSOCKET_PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_EXEMPT_FIELD_NUMBER: _ClassVar[int]
    AUDIT_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FAIL_CLOSED_FIELD_NUMBER: _ClassVar[int]
    public: bool
    roles: _containers.RepeatedScalarFieldContainer[str]
    permissions: _containers.RepeatedScalarFieldContainer[str]
    rate_limit: str
    success_status: int
    websocket_protocol: str
    maintenance_exempt: bool
    audit: bool
    rate_limit_fail_closed: bool
    def __init__(self, public: _Optional[bool] = ..., roles: _Optional[_Iterable[str]] = ..., permissions: _Optional[_Iterable[str]] = ..., rate_limit: _Optional[str] = ..., success_status: _Optional[int] = ..., websocket_protocol: _Optional[str] = ..., maintenance_exempt: _Optional[bool] = ..., audit: _Optional[bool] = ..., rate_limit_fail_closed: _Optional[bool] = ...) -> None: ...

class Events(_message.Message):
    __slots__ = ("prefixes",)
    PREFIXES_FIELD_NUMBER: _ClassVar[int]
    prefixes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, prefixes: _Optional[_Iterable[str]] = ...) -> None: ...

class RateLimitClass(_message.Message):
    __slots__ = ("name", "per_minute", "per_hour")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    name: str
    per_minute: int
    per_hour: int
    def __init__(self, name: _Optional[str] = ..., per_minute: _Optional[int] = ..., per_hour: _Optional[int] = ...) -> None: ...

class TierMultiplier(_message.Message):
    __slots__ = ("tier", "multiplier")
    TIER_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    tier: str
    multiplier: float
    def __init__(self, tier: _Optional[str] = ..., multiplier: _Optional[float] = ...) -> None: ...

class RateLimitTable(_message.Message):
    __slots__ = ("classes", "tiers")
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[RateLimitClass]
    tiers: _containers.RepeatedCompositeFieldContainer[TierMultiplier]
    def __init__(self, classes: _Optional[_Iterable[_Union[RateLimitClass, _Mapping]]] = ..., tiers: _Optional[_Iterable[_Union[TierMultiplier, _Mapping]]] = ...) -> None: ...
