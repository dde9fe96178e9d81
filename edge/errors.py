"""Every failure the edge answers, in one status table and one body shape.

Whether the edge itself refuses a request (no route, bad JSON, missing
fields, body too large, no credential) or a unit answers with a gRPC status,
the client receives the same JSON::

    {"detail": msg, "status_code": N,
     "error": {"code": "NOT_FOUND", "message": msg, "details": [...]},
     "request_id": "...", "timestamp": "2025-01-01T00:00:00.000Z"}

``details`` are the google.rpc details the unit attached (BadRequest field
violations, ErrorInfo, RetryInfo, ...) as JSON objects with ``"@type"``.
When a unit cannot be reached the code is ``BAD_GATEWAY`` and the error names
the unit in ``"service"``. INTERNAL, UNKNOWN and DATA_LOSS replies are passed
on with a generic message and no details: what went wrong inside a unit is
in that unit's log under the request id, never in a response.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import grpc
import orjson
from google.protobuf import any_pb2
from google.rpc import error_details_pb2

from edge import wkt
from services.common.errors import status_from_trailers

log = logging.getLogger("agentmesh.edge")

Code = grpc.StatusCode

HTTP_STATUS: Mapping[grpc.StatusCode, int] = MappingProxyType(
    {
        Code.OK: 200,
        Code.CANCELLED: 499,
        Code.UNKNOWN: 500,
        Code.INVALID_ARGUMENT: 400,
        Code.DEADLINE_EXCEEDED: 504,
        Code.NOT_FOUND: 404,
        Code.ALREADY_EXISTS: 409,
        Code.PERMISSION_DENIED: 403,
        Code.UNAUTHENTICATED: 401,
        Code.RESOURCE_EXHAUSTED: 429,
        Code.FAILED_PRECONDITION: 400,
        Code.ABORTED: 409,
        Code.OUT_OF_RANGE: 400,
        Code.UNIMPLEMENTED: 501,
        Code.INTERNAL: 500,
        Code.UNAVAILABLE: 503,
        Code.DATA_LOSS: 500,
    }
)

# The code an edge-made error carries when only its HTTP status is given.
CODE_FOR_STATUS: Mapping[int, str] = MappingProxyType(
    {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "ALREADY_EXISTS",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "RESOURCE_EXHAUSTED",
        499: "CANCELLED",
        500: "INTERNAL",
        501: "UNIMPLEMENTED",
        502: "BAD_GATEWAY",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
)

GENERIC_INTERNAL = "internal error"
_OPAQUE = frozenset({Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS})
# What grpc-core says when the channel never reached a server (no status came from a unit).
_TRANSPORT_SIGNS = (
    "failed to connect",
    "connection refused",
    "connections to all backends failing",
    "dns resolution failed",
    "socket closed",
    "connection reset",
    "broken pipe",
    "empty address list",
)
_DEBUG_INFO = "google.rpc.DebugInfo"


class EdgeError(Exception):
    """A failure to answer with the standard body; anything on the request path may raise it.

    Hooks (authentication, rate limits) raise it, or a subclass, with the HTTP
    status they want; `headers` are added to the response (WWW-Authenticate,
    Retry-After, Allow).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
        service: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODE_FOR_STATUS.get(status, "UNKNOWN" if status >= 500 else "INVALID_ARGUMENT")
        self.details = list(details)
        self.headers = dict(headers or {})
        self.service = service
        # Top-level fields added to the body, e.g. seed 003's "retry_after" on a 429.
        self.extra = dict(extra or {})


def status_for(code: grpc.StatusCode) -> int:
    """The HTTP status of a gRPC status code."""
    return HTTP_STATUS.get(code, 500)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(error: EdgeError, request_id: str) -> dict[str, Any]:
    """The one error body; every failure the edge answers goes through here."""
    inner: dict[str, Any] = {"code": error.code, "message": error.message, "details": error.details}
    if error.service is not None:
        inner["service"] = error.service
    body = {
        "detail": error.message,
        "status_code": error.status,
        "error": inner,
        "request_id": request_id,
        "timestamp": now_rfc3339(),
    }
    if error.extra:
        body.update(error.extra)
    return body


def encode_error(error: EdgeError, request_id: str) -> bytes:
    return orjson.dumps(error_body(error, request_id))


def detail_json(detail: any_pb2.Any, *, camel: bool = False) -> dict[str, Any]:
    return wkt.any_to_json(detail, camel=camel)


def bad_request(message: str, violations: Sequence[tuple[str, str]], *, camel: bool = False) -> EdgeError:
    """400 INVALID_ARGUMENT carrying google.rpc.BadRequest field violations."""
    details: list[Mapping[str, Any]] = []
    if violations:
        packed = any_pb2.Any()
        packed.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
                    for field, description in violations
                ]
            )
        )
        details.append(detail_json(packed, camel=camel))
    return EdgeError(400, message, code="INVALID_ARGUMENT", details=details)


def unreachable(service: str, *, status: int = 503) -> EdgeError:
    return EdgeError(status, f"the {service} service is unavailable", code="BAD_GATEWAY", service=service)


def from_rpc_error(error: grpc.aio.AioRpcError, *, service: str, camel: bool = False) -> EdgeError:
    """A unit's (or the channel's) gRPC failure as the edge's error."""
    code = error.code()
    message = error.details() or ""
    trailers = error.trailing_metadata()
    status = status_from_trailers(trailers or ())
    if code == Code.UNAVAILABLE and status is None and _is_transport(message):
        log.warning("upstream %s unreachable: %s", service, message)
        return unreachable(service)
    if code == Code.INTERNAL and message.startswith("Exception deserializing response"):
        log.warning("upstream %s sent a reply that does not parse", service)
        return unreachable(service, status=502)
    if code in _OPAQUE:
        return EdgeError(status_for(code), GENERIC_INTERNAL, code=code.name)
    details: list[Mapping[str, Any]] = []
    headers: dict[str, str] = {}
    if status is not None:
        message = status.message or message
        for detail in status.details:
            if detail.type_url.endswith(_DEBUG_INFO):
                continue
            details.append(detail_json(detail, camel=camel))
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
                headers["Retry-After"] = str(max(1, math.ceil(delay)))
    return EdgeError(status_for(code), message or code.name, code=code.name, details=details, headers=headers)


def _is_transport(message: str) -> bool:
    lowered = message.lower()
    return any(sign in lowered for sign in _TRANSPORT_SIGNS)
