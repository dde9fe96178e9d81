"""Edge fixtures: the Shelves service on a real grpc.aio server and an edge in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import build_app
from edge.routes import Router, build_router, methods_of
from tests.edge import shelves

MakeClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def servicer() -> shelves.Shelves:
    return shelves.Shelves()


@pytest.fixture
async def shelves_port(servicer: shelves.Shelves) -> AsyncIterator[int]:
    server: grpc.aio.Server
    server, port = await shelves.serve(servicer)
    try:
        yield port
    finally:
        servicer.release.set()
        await server.stop(0)


@pytest.fixture(scope="session")
def shelves_router() -> Router:
    return build_router(methods_of([shelves.service()]))


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Start an edge app under a real aiohttp server; all are closed when the test ends."""
    async with AsyncExitStack() as stack:

        async def make(router: Router, upstreams: Any, **options: Any) -> TestClient[web.Request, web.Application]:
            app = build_app(router, upstreams, **options)
            client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
            await client.start_server()
            stack.push_async_callback(client.close)
            return client

        yield make


@pytest.fixture
async def client(
    make_client: MakeClient, shelves_router: Router, shelves_port: int
) -> TestClient[web.Request, web.Application]:
    return await make_client(shelves_router, {shelves.SERVICE: f"127.0.0.1:{shelves_port}"})
