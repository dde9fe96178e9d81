"""REST through the edge to the real auth unit: the seeds' auth endpoints end to end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.auth.conftest import ADMIN_KEY

PASSWORD = "correct horse 1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def json_of(response: Any, status: int) -> dict[str, Any]:
    body = await response.json()
    assert response.status == status, body
    return dict(body)


async def test_seed_001_register_login_me_refresh_logout(edge: TestClient) -> None:
    body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
    registered = await json_of(await edge.post("/api/v1/auth/register", json=body), 201)
    assert registered["token_type"] == "bearer" and registered["user"]["email"] == "ada@example.com"
    assert "password" not in registered["user"]
    login = await json_of(
        await edge.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}), 200
    )
    me = await json_of(await edge.get("/api/v1/users/me", headers=bearer(login["access_token"])), 200)
    assert me["username"] == "ada"  # response_body "user": the resource itself
    fresh = await json_of(await edge.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}), 200)
    assert fresh["refresh_token"] != login["refresh_token"]
    out = await json_of(await edge.post("/api/v1/auth/logout", json={"refresh_token": fresh["refresh_token"]}), 200)
    assert out["revoked_sessions"] == 1
    refused = await edge.get("/api/v1/users/me", headers=bearer(fresh["access_token"]))
    error = await json_of(refused, 401)
    assert error["error"]["code"] == "UNAUTHENTICATED" and error["request_id"]
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


async def test_seed_000_customers(edge: TestClient) -> None:
    created = await json_of(
        await edge.post("/api/v1/customers", json={"email": "cu@example.com", "password": PASSWORD}), 201
    )
    token = created["access_token"]
    me = await json_of(await edge.get("/api/v1/customers/me", headers=bearer(token)), 200)
    assert me["email"] == "cu@example.com"
    updated = await json_of(
        await edge.put("/api/v1/customers/me", json={"full_name": "Cu Stomer"}, headers=bearer(token)), 200
    )
    assert updated["full_name"] == "Cu Stomer"
    deleted = await edge.delete("/api/v1/customers/me", headers=bearer(token))
    assert deleted.status == 204 and await deleted.read() == b""


async def test_seed_003_auth_paths(edge: TestClient) -> None:
    await json_of(await edge.post("/api/v1/auth/register", json={"email": "u3@example.com", "username": "user",
                                                                  "password": PASSWORD}), 201)
    login = await json_of(await edge.post("/auth/login", json={"username": "user", "password": PASSWORD}), 200)
    assert set(login) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    fresh = await json_of(await edge.post("/auth/refresh", json={"refresh_token": login["refresh_token"]}), 200)
    token = await json_of(await edge.post("/auth/token", headers=bearer(fresh["access_token"])), 200)
    assert token["token_type"] == "bearer" and token["access_token"]
    out = await json_of(await edge.post("/auth/logout", json={"refresh_token": fresh["refresh_token"]}), 200)
    assert out["revoked_sessions"] == 1
    admin = await edge.post("/admin/auth/login", json={"username": "user", "password": PASSWORD})
    assert (await json_of(admin, 401))["detail"] == "invalid credentials"


async def test_seed_000_admin_key(edge: TestClient) -> None:
    login = await json_of(await edge.post("/api/v1/admin/login", json={"api_key": ADMIN_KEY}), 200)
    assert login["user"]["role"] == "superuser"
    listed = await edge.get("/admin/users", headers=bearer(login["access_token"]))
    users = await listed.json()
    assert listed.status == 200 and isinstance(users, list)  # seed 003: a bare JSON array
    assert users and {"user_id", "username", "role", "status", "created_at"} <= set(users[0])
    # The admin key itself is a credential for the admin endpoints.
    by_key = await json_of(await edge.get("/admin/users/stats", headers={"X-API-Key": ADMIN_KEY}), 200)
    assert by_key["total_users"] >= 1
    wrong = await edge.post("/api/v1/admin/login", json={"api_key": "nope"})
    await json_of(wrong, 401)


async def test_policy_and_forged_headers(edge: TestClient) -> None:
    user = await json_of(
        await edge.post("/api/v1/auth/register", json={"email": "p@example.com", "password": PASSWORD}), 201
    )
    anonymous = await edge.get("/api/v1/users/me")
    assert (await json_of(anonymous, 401))["error"]["code"] == "UNAUTHENTICATED"
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="agentmesh"'
    forged = await edge.get("/admin/users", headers={**bearer(user["access_token"]), "X-User-Role": "admin"})
    assert (await json_of(forged, 403))["error"]["code"] == "PERMISSION_DENIED"
    spoofed = await edge.get("/api/v1/users/me", headers={"X-User-Id": "someone-else"})
    await json_of(spoofed, 401)


async def test_api_key_through_the_edge(edge: TestClient) -> None:
    user = await json_of(
        await edge.post("/api/v1/auth/register", json={"email": "k@example.com", "password": PASSWORD}), 201
    )
    created = await json_of(
        await edge.post("/api/v1/api-keys", json={"name": "cli"}, headers=bearer(user["access_token"])), 201
    )
    key = created["key"]
    me = await json_of(await edge.get("/api/v1/users/me", headers={"X-API-Key": key}), 200)
    assert me["user_id"] == user["user"]["user_id"]
    bad = await edge.get("/api/v1/users/me", headers={"X-API-Key": key[:-2] + "zz"})
    await json_of(bad, 401)
    revoke = await edge.delete(f"/api/v1/api-keys/{created['api_key']['api_key_id']}",
                               headers=bearer(user["access_token"]))
    assert revoke.status == 204
    started = time.monotonic()
    while (await edge.get("/api/v1/users/me", headers={"X-API-Key": key})).status != 401:
        assert time.monotonic() - started < 1.0, "a revoked API key still works at the edge"
        await asyncio.sleep(0.02)


async def test_rate_limit_of_the_auth_class(edge: TestClient) -> None:
    statuses = []
    for _ in range(11):
        response = await edge.post("/auth/login", json={"username": "ghost", "password": "wrong password 1"})
        statuses.append(response.status)
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert response.headers["X-RateLimit-Limit"] == "10" and response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["Retry-After"]) >= 1
    body = await response.json()
    assert body["detail"] == "Rate limit exceeded" and body["retry_after"] >= 1 and body["status_code"] == 429


async def test_logout_reaches_the_edge_within_a_second(edge: TestClient) -> None:
    user = await json_of(
        await edge.post("/api/v1/auth/register", json={"email": "lo@example.com", "password": PASSWORD}), 201
    )
    await json_of(await edge.get("/api/v1/users/me", headers=bearer(user["access_token"])), 200)
    await json_of(await edge.post("/api/v1/auth/logout", json={}, headers=bearer(user["access_token"])), 200)
    started = time.monotonic()
    while (await edge.get("/api/v1/users/me", headers=bearer(user["access_token"]))).status != 401:
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.02)


async def test_front_door_extras(edge: TestClient) -> None:
    health = await json_of(await edge.get("/health"), 200)
    assert health["status"] == "healthy"
    ready = await json_of(await edge.get("/health/ready"), 503)  # only auth runs here
    assert ready["checks"]["auth"] == "SERVING" and ready["checks"]["agent"] != "SERVING"
    status = await json_of(await edge.get("/status"), 200)
    assert status["services"]["auth"] == "online" and status["status"] == "degraded"
    await edge.get("/no/such/path")
    metrics = await (await edge.get("/metrics")).text()
    assert "edge_http_requests_total" in metrics
    document = await json_of(await edge.get("/openapi.json"), 200)
    assert "/api/v1/auth/login" in document["paths"]
    docs = await edge.get("/docs")
    assert docs.status == 200
    response = await edge.get("/health", headers={"Origin": "https://app.example.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    preflight = await edge.options("/api/v1/agents", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "GET"})
    assert preflight.status == 403
    missing = await json_of(await edge.get("/api/v1/nothing-here"), 404)
    assert missing["error"]["code"] == "NOT_FOUND"
    internal = await edge.post("/internal/v1/auth/service-token", json={"service": "edge", "secret": "x"})
    assert internal.status == 404  # unit-to-unit methods are not reachable from outside


async def test_a_unit_that_is_down_is_a_gateway_error(edge: TestClient) -> None:
    user = await json_of(
        await edge.post("/api/v1/auth/register", json={"email": "d@example.com", "password": PASSWORD}), 201
    )
    response = await edge.get("/api/v1/agents", headers=bearer(user["access_token"]))
    body = await json_of(response, 503)
    assert body["error"]["code"] == "BAD_GATEWAY" and body["error"]["service"] == "agent"
