"""The rate-limit headers of the front door reach every answer the dispatcher builds, with or without
the prepare signal (kept only where a WebSocket handshake can happen: on streaming routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import descriptor_pb2

from edge.front import create_front_app
from tests.edge.test_front import SECRET, Clock, _bearer, _compile, _token

Client = TestClient[web.Request, web.Application]
RATE = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _unary_only(descriptor_file: Path) -> bytes:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_file.read_bytes())
    for proto in files.file:
        for service in proto.service:
            kept = [m for m in service.method if not (m.server_streaming or m.client_streaming)]
            del service.method[:]
            service.method.extend(kept)
    return files.SerializeToString()


@pytest.fixture(params=["unary routes only", "with streaming routes"])
async def front(request: pytest.FixtureRequest, tmp_path: Path, shelves_port: int) -> AsyncIterator[Client]:
    compiled = _compile(tmp_path)
    descriptors = _unary_only(compiled) if request.param == "unary routes only" else compiled.read_bytes()
    app = create_front_app(
        descriptors, {"*": f"127.0.0.1:{shelves_port}"}, jwt_secret=SECRET, rate_limit_per_minute=50, clock=Clock()
    )
    assert (len(app.on_response_prepare) == 0) == (request.param == "unary routes only")
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_rate_limit_headers_are_on_answers_errors_and_streams(front: Client) -> None:
    auth = _bearer(_token(Clock()))
    answered = await front.get("/v1/echo/hi", headers=auth)
    assert answered.status == 200 and all(name in answered.headers for name in RATE)
    assert answered.headers["X-RateLimit-Limit"] == "50"
    upstream_error = await front.get("/v1/items/missing", headers=auth)
    assert upstream_error.status == 404 and all(name in upstream_error.headers for name in RATE)
    bad_body = await front.post("/v1/echo", data="{", headers={**auth, "Content-Type": "application/json"})
    assert bad_body.status == 400 and all(name in bad_body.headers for name in RATE)
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (answered, upstream_error, bad_body)]
    assert remaining == [49, 48, 47]
    unrouted = await front.get("/v1/nowhere", headers=auth)
    assert unrouted.status == 404 and not any(name in unrouted.headers for name in RATE)  # no decision made


async def test_streamed_answers_carry_them_too(tmp_path: Path, shelves_port: int) -> None:
    app = create_front_app(
        _compile(tmp_path).read_bytes(), {"*": f"127.0.0.1:{shelves_port}"}, rate_limit_per_minute=50, clock=Clock()
    )
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/v1/shelves/s1/events", headers={"Accept": "application/x-ndjson"})
        assert reply.status == 200 and reply.headers["Content-Type"] == "application/x-ndjson"
        assert reply.headers["X-RateLimit-Remaining"] == "49"
        reply.close()
