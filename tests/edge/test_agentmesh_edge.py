"""The edge in front of a real AgentMesh unit started by the bootstrap (interceptors and all).

A small servicer plays the auth unit's public methods, so these tests keep
working when the units start requiring a verified token for non-public ones.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from agentmesh.v1 import auth_pb2
from aiohttp import web
from aiohttp.test_utils import TestClient

from edge.routes import Router, build_router
from services.common import authctx, policy
from services.common.bootstrap import Resources, RunningUnit, UnitSpec
from services.common.errors import InvalidArgument
from tests.conftest import StartUnit
from tests.edge.conftest import MakeClient

Client = TestClient[web.Request, web.Application]


class _Auth:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []

    async def Login(self, request: Any, context: Any) -> Any:
        self.calls.append(("Login", request, authctx.current().request_id))
        if len(request.password) < 8:
            raise InvalidArgument.field("password", "must be at least 8 characters")
        user = auth_pb2.User(user_id="u-1", email=request.email, username=request.username, role="user")
        user.created_at.FromSeconds(1_700_000_000)
        return auth_pb2.LoginResponse(
            access_token="access", refresh_token="refresh", token_type="bearer", expires_in=1800, user=user
        )

    async def Register(self, request: Any, context: Any) -> Any:
        self.calls.append(("Register", request, authctx.current().request_id))
        user = auth_pb2.User(user_id="u-2", email=request.email, username=request.username)
        return auth_pb2.RegisterResponse(user=user, access_token="a", refresh_token="r", token_type="bearer")

    async def AdminLogin(self, request: Any, context: Any) -> Any:
        raise RuntimeError("secret-internal-detail")


def _auth_router() -> Router:
    return build_router(m for m in policy.table().values() if m.unit == "auth")


@pytest.fixture
def auth() -> _Auth:
    return _Auth()


@pytest.fixture
async def unit(start_unit: StartUnit, auth: _Auth) -> RunningUnit:
    async def build(resources: Resources) -> dict[str, object]:
        return {"agentmesh.v1.AuthService": auth}

    return await start_unit(UnitSpec(name="auth", build=build))


@pytest.fixture
async def client(make_client: MakeClient, unit: RunningUnit) -> Client:
    return await make_client(_auth_router(), {"auth": f"127.0.0.1:{unit.port}"})


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/auth/login"])
async def test_login_on_both_seed_paths(client: Client, auth: _Auth, path: str) -> None:
    credentials = {"email": "a@b.c", "password": "long-enough"}
    reply = await client.post(path, json=credentials, headers={"X-Request-ID": "rq-1"})
    assert reply.status == 200
    body = await reply.json()
    assert (body["access_token"], body["refresh_token"], body["token_type"]) == ("access", "refresh", "bearer")
    assert body["expires_in"] == 1800
    assert body["user"]["email"] == "a@b.c" and body["user"]["created_at"] == "2023-11-14T22:13:20Z"
    assert auth.calls[-1][2] == "rq-1"  # the unit's caller context sees the edge's request id


async def test_register_answers_201_from_the_policy(client: Client) -> None:
    body = {"email": "user@example.com", "username": "user123", "password": "securepassword"}
    reply = await client.post("/api/v1/auth/register", json=body)
    assert reply.status == 201
    assert (await reply.json())["user"]["user_id"] == "u-2"


async def test_domain_error_is_400_with_field_violations(client: Client) -> None:
    reply = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "short"})
    body = await reply.json()
    assert (reply.status, body["status_code"], body["error"]["code"]) == (400, 400, "INVALID_ARGUMENT")
    assert body["detail"] == "password: must be at least 8 characters"
    violations = [d for d in body["error"]["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    assert violations[0]["field_violations"] == [{"field": "password", "description": "must be at least 8 characters"}]
    info = [d for d in body["error"]["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert info[0]["reason"] == "INVALID_ARGUMENT"


async def test_required_password_is_checked_at_the_edge(client: Client, auth: _Auth) -> None:
    reply = await client.post("/api/v1/auth/login", json={"email": "a@b.c"})
    body = await reply.json()
    assert reply.status == 400
    assert body["error"]["details"][0]["field_violations"] == [
        {"field": "password", "description": "required field is missing"}
    ]
    assert auth.calls == []


async def test_unbuilt_method_is_501(client: Client) -> None:
    reply = await client.get("/.well-known/jwks.json")
    body = await reply.json()
    assert (reply.status, body["error"]["code"]) == (501, "UNIMPLEMENTED")
    assert "/agentmesh.v1.AuthService/GetJwks" in body["detail"]


async def test_internal_errors_leak_nothing(client: Client) -> None:
    reply = await client.post("/admin/auth/login", json={"username": "admin", "password": "adminpass123"})
    text = await reply.text()
    assert reply.status == 500
    assert "secret-internal-detail" not in text and "Traceback" not in text
    assert (await reply.json())["detail"] == "internal error"


async def test_unit_down_is_bad_gateway_naming_the_unit(make_client: MakeClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = await make_client(_auth_router(), {"auth": f"127.0.0.1:{port}"})
    reply = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "long-enough"})
    body = await reply.json()
    assert reply.status == 503
    assert body["error"]["code"] == "BAD_GATEWAY" and body["error"]["service"] == "auth"
