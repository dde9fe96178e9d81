"""The server foundation: health, drain, reflection, metrics, context and error mapping.

A small servicer defined here plays the auth unit's AuthService/UserService so
the real bootstrap, interceptors and handlers can be exercised end to end.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from agentmesh.v1 import auth_pb2, auth_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common import authctx
from services.common.bootstrap import Resources, RunningUnit, UnitSpec, start
from services.common.errors import (
    MAX_MESSAGE_CHARS,
    MAX_VIOLATIONS,
    FieldViolation,
    InvalidArgument,
    status_from_trailers,
)
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from tests.conftest import StartUnit


class _Auth:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def Login(self, request: Any, context: Any) -> Any:
        raise InvalidArgument.field("password", "must not be empty")

    async def Register(self, request: Any, context: Any) -> Any:
        raise RuntimeError("boom: secret-internal-detail")

    async def RefreshToken(self, request: Any, context: Any) -> Any:
        faults = [FieldViolation(f"items[{i}].name", "is required, " * 10) for i in range(1000)]
        raise InvalidArgument("; ".join(f"{v.field}: {v.description}" for v in faults), faults)

    async def Logout(self, request: Any, context: Any) -> Any:
        await asyncio.wait_for(self.release.wait(), 5)
        return auth_pb2.LogoutResponse()


class _Users:
    async def GetMe(self, request: Any, context: Any) -> Any:
        caller = authctx.current()
        return auth_pb2.GetMeResponse(
            user=auth_pb2.User(user_id=caller.user_id, tenant_id=caller.tenant_id, role=caller.role,
                               email=caller.request_id)
        )


@pytest.fixture
def issue(settings: Settings) -> Callable[..., list[tuple[str, str]]]:
    """Bearer metadata for a token the unit's verifier accepts."""
    issuer = TokenIssuer(Keys.from_settings(settings), settings)

    def _issue(**claims: Any) -> list[tuple[str, str]]:
        token, _ = issuer.issue(typ="access", **claims)
        return [("authorization", f"Bearer {token}")]

    return _issue


@pytest.fixture
def auth() -> _Auth:
    return _Auth()


@pytest.fixture
async def unit(start_unit: StartUnit, auth: _Auth) -> RunningUnit:
    async def build(resources: Resources) -> dict[str, object]:
        return {"agentmesh.v1.AuthService": auth, "agentmesh.v1.UserService": _Users()}

    return await start_unit(UnitSpec(name="auth", build=build))


@pytest.fixture
async def channel(unit: RunningUnit) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as ch:
        yield ch


async def test_health_is_serving_per_service_and_not_found_for_unknown(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "agentmesh.v1.AuthService", "agentmesh.v1.UserAdminService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Check(health_pb2.HealthCheckRequest(service="agentmesh.v1.NoSuchService"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_drain_turns_not_serving_and_finishes_in_flight_calls(
    unit: RunningUnit, channel: grpc.aio.Channel, auth: _Auth
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service="agentmesh.v1.AuthService"))
    first = await watch.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING

    in_flight = asyncio.ensure_future(auth_pb2_grpc.AuthServiceStub(channel).Logout(auth_pb2.LogoutRequest()))
    await asyncio.sleep(0.1)
    drain = asyncio.ensure_future(unit.drain(grace=5))
    second = await asyncio.wait_for(watch.read(), 2)
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert not in_flight.done()
    watch.cancel()  # a watcher that stays would hold the drain for the whole grace period
    auth.release.set()
    reply = await asyncio.wait_for(in_flight, 5)
    assert isinstance(reply, auth_pb2.LogoutResponse)
    await asyncio.wait_for(drain, 5)
    assert unit.stopped.is_set()


async def test_reflection_lists_every_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for reply in stub.ServerReflectionInfo(ask()):
        names |= {s.name for s in reply.list_services_response.service}
    assert {
        "agentmesh.v1.AuthService",
        "agentmesh.v1.UserService",
        "agentmesh.v1.OrganizationService",
        "agentmesh.v1.ApiKeyService",
        "agentmesh.v1.UserAdminService",
        "agentmesh.v1.ClientAdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


async def test_unbuilt_methods_answer_unimplemented_naming_unit_and_method(
    channel: grpc.aio.Channel, issue: Callable[..., list[tuple[str, str]]]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_pb2.GetJwksRequest())
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "auth unit" in (info.value.details() or "")
    assert "/agentmesh.v1.AuthService/GetJwks" in (info.value.details() or "")
    stream = auth_pb2_grpc.AuthServiceStub(channel).WatchRevocations(
        auth_pb2.WatchRevocationsRequest(), metadata=issue(sub="service:edge", role="service")
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stream.read()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_domain_errors_carry_field_violations(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.AuthServiceStub(channel).Login(auth_pb2.LoginRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_from_trailers(info.value.trailing_metadata())
    assert status is not None
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    assert violations == [("password", "must not be empty")]


async def test_an_error_with_a_thousand_faults_still_fits_its_trailers(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.AuthServiceStub(channel).RefreshToken(auth_pb2.RefreshTokenRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # not RESOURCE_EXHAUSTED for oversized metadata
    assert len(info.value.details() or "") <= MAX_MESSAGE_CHARS
    status = status_from_trailers(info.value.trailing_metadata())
    assert status is not None
    bad = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)).Unpack(bad)
    listed = len(bad.field_violations) - 1
    assert 0 < listed < MAX_VIOLATIONS and bad.field_violations[0].field == "items[0].name"
    assert bad.field_violations[-1].description == f"and {1000 - listed} more problems not listed"


async def test_unexpected_errors_are_internal_logged_once_and_leak_nothing(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.AuthServiceStub(channel).Register(
            auth_pb2.RegisterRequest(), metadata=(("x-request-id", "req-42"),)
        )
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "secret-internal-detail" not in (info.value.details() or "")
    assert "Traceback" not in (info.value.details() or "")
    assert "req-42" in (info.value.details() or "")
    records = [r for r in caplog.records if "Register" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is not None


async def test_caller_context_comes_from_the_verified_token(
    channel: grpc.aio.Channel, issue: Callable[..., list[tuple[str, str]]]
) -> None:
    stub = auth_pb2_grpc.UserServiceStub(channel)
    reply = await stub.GetMe(
        auth_pb2.GetMeRequest(),
        metadata=[*issue(sub="u1", tid="t1", role="admin"), ("x-request-id", "r1"), ("x-user-id", "forged")],
    )
    assert (reply.user.user_id, reply.user.tenant_id, reply.user.role, reply.user.email) == ("u1", "t1", "admin", "r1")
    # A service vouches for the user it acts for.
    reply = await stub.GetMe(
        auth_pb2.GetMeRequest(),
        metadata=[*issue(sub="service:task", role="service"), ("x-user-id", "u2"), ("x-client-id", "t2")],
    )
    assert (reply.user.user_id, reply.user.tenant_id, reply.user.role) == ("u2", "t2", "user")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMe(auth_pb2.GetMeRequest(), metadata=[("x-user-id", "u1"), ("x-user-role", "admin")])
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_metrics_count_calls_by_method_and_code(
    unit: RunningUnit, channel: grpc.aio.Channel, issue: Callable[..., list[tuple[str, str]]]
) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Login(auth_pb2.LoginRequest())
    await auth_pb2_grpc.UserServiceStub(channel).GetMe(auth_pb2.GetMeRequest(), metadata=issue(sub="u1"))
    with pytest.raises(grpc.aio.AioRpcError):
        await auth_pb2_grpc.UserServiceStub(channel).GetMe(auth_pb2.GetMeRequest())

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{unit.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    text = await asyncio.to_thread(scrape)
    assert (
        'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="Login",'
        'grpc_service="agentmesh.v1.AuthService"} 2.0' in text
    )
    assert 'grpc_server_started_total{grpc_method="GetMe",grpc_service="agentmesh.v1.UserService"} 2.0' in text
    assert (
        'grpc_server_handled_total{grpc_code="UNAUTHENTICATED",grpc_method="GetMe",'
        'grpc_service="agentmesh.v1.UserService"} 1.0' in text
    )
    assert "grpc_server_handling_seconds_bucket" in text
    assert 'grpc_server_in_flight{grpc_method="GetMe",grpc_service="agentmesh.v1.UserService"} 0.0' in text


async def test_a_taken_port_is_a_clear_start_up_error(settings: Settings) -> None:
    async def build(resources: Resources) -> dict[str, object]:
        return {}

    with socket.socket() as taken:  # listening without SO_REUSEPORT: gRPC cannot share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with AsyncExitStack() as stack:
            with pytest.raises(OSError, match=rf"agent: cannot listen on 127\.0\.0\.1:{port} .*AGENTMESH_AGENT_PORT"):
                await start(UnitSpec(name="agent", build=build), settings, stack, port=port, metrics_port=0)
