"""The gRPC -> HTTP status table and the one error body."""

from __future__ import annotations

from datetime import datetime

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from edge import errors
from edge.errors import EdgeError
from services.common.errors import DETAILS_KEY, InvalidArgument, NotFound, ResourceExhausted

TABLE = [
    (grpc.StatusCode.OK, 200),
    (grpc.StatusCode.CANCELLED, 499),
    (grpc.StatusCode.UNKNOWN, 500),
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.PERMISSION_DENIED, 403),
    (grpc.StatusCode.UNAUTHENTICATED, 401),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.OUT_OF_RANGE, 400),
    (grpc.StatusCode.UNIMPLEMENTED, 501),
    (grpc.StatusCode.INTERNAL, 500),
    (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DATA_LOSS, 500),
]


@pytest.mark.parametrize(("code", "status"), TABLE, ids=[c.name for c, _ in TABLE])
def test_status_table(code: grpc.StatusCode, status: int) -> None:
    assert errors.status_for(code) == status


def test_the_table_covers_every_code() -> None:
    assert set(errors.HTTP_STATUS) == set(grpc.StatusCode)


def _rpc_error(
    code: grpc.StatusCode, details: str, status: status_pb2.Status | None = None
) -> grpc.aio.AioRpcError:
    trailers = grpc.aio.Metadata()
    if status is not None:
        trailers.add(DETAILS_KEY, status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details=details)


def test_body_shape() -> None:
    body = errors.error_body(EdgeError(404, "no such agent"), "req-1")
    assert set(body) == {"detail", "status_code", "error", "request_id", "timestamp"}
    assert body["detail"] == "no such agent" and body["status_code"] == 404 and body["request_id"] == "req-1"
    assert body["error"] == {"code": "NOT_FOUND", "message": "no such agent", "details": []}
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


EDGE_CODES = [
    (400, "INVALID_ARGUMENT"),
    (401, "UNAUTHENTICATED"),
    (403, "PERMISSION_DENIED"),
    (404, "NOT_FOUND"),
    (405, "METHOD_NOT_ALLOWED"),
    (413, "PAYLOAD_TOO_LARGE"),
    (429, "RESOURCE_EXHAUSTED"),
    (502, "BAD_GATEWAY"),
    (503, "UNAVAILABLE"),
]


@pytest.mark.parametrize(("status", "code"), EDGE_CODES)
def test_edge_made_errors_get_a_code_from_their_status(status: int, code: str) -> None:
    assert EdgeError(status, "x").code == code


def test_domain_error_with_field_violations_keeps_its_details() -> None:
    domain = InvalidArgument.field("password", "must not be empty")
    error = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.INVALID_ARGUMENT, domain.message, domain.to_status()), service="auth"
    )
    assert (error.status, error.code, error.message) == (400, "INVALID_ARGUMENT", "password: must not be empty")
    types = [d["@type"] for d in error.details]
    assert types == ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"]
    assert error.details[1]["field_violations"] == [{"field": "password", "description": "must not be empty"}]
    camel = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.INVALID_ARGUMENT, domain.message, domain.to_status()), service="auth", camel=True
    )
    assert "fieldViolations" in camel.details[1]


def test_retry_info_becomes_retry_after() -> None:
    domain = ResourceExhausted("slow down", retry_after=2.2)
    error = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", domain.to_status()), service="speech"
    )
    assert (error.status, error.headers["Retry-After"]) == (429, "3")


def test_debug_info_never_leaves_the_edge() -> None:
    debug = any_pb2.Any()
    debug.Pack(error_details_pb2.DebugInfo(stack_entries=["secret.py:1"], detail="secret"))
    status = NotFound("no agent a1").to_status()
    status.details.append(debug)
    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no agent a1", status), service="agent")
    assert "secret" not in str(errors.error_body(error, "r"))
    assert error.status == 404


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS])
def test_opaque_failures_pass_as_the_generic_message(code: grpc.StatusCode) -> None:
    status = status_pb2.Status(code=code.value[0], message="boom: password=hunter2 at db.py:12")
    error = errors.from_rpc_error(_rpc_error(code, "boom: password=hunter2 at db.py:12", status), service="auth")
    assert (error.status, error.message, error.details, error.code) == (500, errors.GENERIC_INTERNAL, [], code.name)


@pytest.mark.parametrize(
    "details",
    [
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused",
        "DNS resolution failed for nowhere:50051",
        "Socket closed",
    ],
)
def test_unreachable_upstream_is_bad_gateway_naming_the_service(details: str) -> None:
    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, details), service="task")
    body = errors.error_body(error, "r")
    assert body["status_code"] == 503
    assert body["error"]["code"] == "BAD_GATEWAY" and body["error"]["service"] == "task"
    assert "127.0.0.1" not in str(body)


def test_a_unit_saying_unavailable_is_not_a_bad_gateway() -> None:
    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, "maintenance"), service="admin")
    assert (error.status, error.code, error.service) == (503, "UNAVAILABLE", None)


def test_unparsable_reply_is_a_502() -> None:
    error = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.INTERNAL, "Exception deserializing response!"), service="agent"
    )
    assert (error.status, error.code, error.service) == (502, "BAD_GATEWAY", "agent")


def test_bad_request_builder_packs_violations() -> None:
    error = errors.bad_request("missing required fields: a", [("a", "required field is missing")])
    body = errors.error_body(error, "r")
    assert body["status_code"] == 400
    assert body["error"]["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [{"field": "a", "description": "required field is missing"}],
        }
    ]


def test_unknown_detail_types_stay_opaque() -> None:
    strange = any_pb2.Any(type_url="type.googleapis.com/vendor.Secretive", value=b"\x01\x02")
    assert errors.detail_json(strange) == {"@type": "type.googleapis.com/vendor.Secretive", "value": "AQI="}
