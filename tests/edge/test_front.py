"""edge.front: the edge in front of a gRPC service that is not AgentMesh's (edgetest.v1.Shelves).

The descriptor set is compiled here with grpcio-tools, as a user would with
`protoc --include_imports --descriptor_set_out`; the upstream is a plain
grpc.aio server built from descriptors (tests/edge/shelves.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.forward import MissingUpstream
from edge.front import create_front_app, main, parse_rate, parse_upstreams
from services.common.settings import Settings
from services.common.tokens import Keys, TokenIssuer
from tests.edge import shelves
from tests.ports import free_port

Client = TestClient[web.Request, web.Application]
MakeFront = Callable[..., Awaitable[Client]]

SECRET = "front-test-secret-that-is-long-enough-0123456789"
REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, now: float = 1_800_000_030.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _compile(out_dir: Path) -> Path:
    from grpc_tools import protoc

    out = out_dir / "shelf.pb"
    args = [
        "protoc",
        f"-I{shelves.PROTO_ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"-I{sysconfig.get_paths()['purelib']}",
        "--include_imports",
        f"--descriptor_set_out={out}",
        "edgetest/v1/shelf.proto",
    ]
    assert protoc.main(args) == 0
    return out


@pytest.fixture
def descriptor_file(tmp_path: Path) -> Path:
    return _compile(tmp_path)


@pytest.fixture
def descriptor_set(descriptor_file: Path) -> bytes:
    return descriptor_file.read_bytes()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_front(descriptor_set: bytes, shelves_port: int, clock: Clock) -> AsyncIterator[MakeFront]:
    async with AsyncExitStack() as stack:

        async def make(**options: Any) -> Client:
            app = create_front_app(descriptor_set, {"*": f"127.0.0.1:{shelves_port}"}, clock=clock, **options)
            client: Client = TestClient(TestServer(app))
            await client.start_server()
            stack.push_async_callback(client.close)
            return client

        yield make


def _token(clock: Clock, sub: str = "usr_1", secret: str = SECRET, lifetime: float = 600) -> str:
    issuer = TokenIssuer(Keys.hmac("HS256", secret), Settings(), clock=clock)
    return issuer.issue(typ="access", sub=sub, lifetime=lifetime)[0]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_get_and_post_are_transcoded(make_front: MakeFront, servicer: shelves.Shelves) -> None:
    front = await make_front()
    got = await front.get("/v1/shelves/s1/items/i1?readMask=title")
    assert got.status == 200
    body = await got.json()
    assert (body["item_id"], body["shelf_id"], body["count"]) == ("i1", "s1", str(2**40))
    _, request, _ = servicer.requests[-1]
    assert list(request.read_mask.paths) == ["title"]

    posted = await front.post("/v1/echo", json={"text": "hi", "address": {"city": "Lyon"}})
    assert posted.status == 200
    echoed = await posted.json()
    assert (echoed["text"], echoed["address"]["city"]) == ("hi", "Lyon")
    assert "x-user-id" not in echoed["metadata"] and "x-ratelimit-limit" not in {k.lower() for k in posted.headers}

    missing = await front.get("/v1/nowhere")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "NOT_FOUND"


async def test_jwt_is_required_when_a_secret_is_set(make_front: MakeFront, clock: Clock) -> None:
    front = await make_front(jwt_secret=SECRET)

    anonymous = await front.get("/v1/echo/hi")
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="edge"'
    body = await anonymous.json()
    assert (body["status_code"], body["error"]["code"]) == (401, "UNAUTHENTICATED")

    forged = await front.get("/v1/echo/hi", headers=_bearer(_token(clock, secret="x" * 40)))
    assert forged.status == 401
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    assert (await front.get("/v1/echo/hi", headers={"Authorization": "Basic dXNlcjpwdw=="})).status == 401

    token = _token(clock, sub="usr_42")
    for _ in range(2):  # the second call is served from the verified-token memo
        signed_in = await front.get("/v1/echo/hi", headers=_bearer(token))
        assert signed_in.status == 200
        metadata = (await signed_in.json())["metadata"]
        assert metadata["x-user-id"] == "usr_42" and metadata["authorization"] == f"Bearer {token}"


async def test_an_expired_token_is_refused_even_after_it_was_accepted(make_front: MakeFront, clock: Clock) -> None:
    front = await make_front(jwt_secret=SECRET)
    token = _token(clock, lifetime=60)
    assert (await front.get("/v1/echo/hi", headers=_bearer(token))).status == 200
    clock.now += 60 + Settings().jwt_leeway_seconds + 1
    late = await front.get("/v1/echo/hi", headers=_bearer(token))
    assert late.status == 401
    assert "expired" in (await late.json())["detail"]


async def test_rate_limit_refuses_past_n_per_minute(
    make_front: MakeFront, servicer: shelves.Shelves, clock: Clock
) -> None:
    front = await make_front(jwt_secret=SECRET, rate_limit_per_minute=3)
    first = _bearer(_token(clock, sub="usr_a"))
    remaining = []
    for _ in range(3):
        reply = await front.get("/v1/echo/hi", headers=first)
        assert reply.status == 200
        assert reply.headers["X-RateLimit-Limit"] == "3"
        assert reply.headers["X-RateLimit-Reset"] == str(1_800_000_060)
        remaining.append(reply.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    calls = len(servicer.requests)

    refused = await front.get("/v1/echo/hi", headers=first)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    body = await refused.json()
    assert (body["detail"], body["retry_after"]) == ("Rate limit exceeded", 30)
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert len(servicer.requests) == calls  # refused before the upstream

    other = await front.get("/v1/echo/hi", headers=_bearer(_token(clock, sub="usr_b")))
    assert other.status == 200  # counted per principal
    clock.now += 30
    assert (await front.get("/v1/echo/hi", headers=first)).status == 200  # a new minute


async def test_without_auth_the_limit_counts_per_address(make_front: MakeFront) -> None:
    front = await make_front(rate_limit_per_minute=2)
    statuses = [(await front.post("/v1/echo", json={"text": "x"})).status for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_service_without_an_upstream_stops_the_start(descriptor_set: bytes) -> None:
    with pytest.raises(MissingUpstream, match=r"edgetest\.v1\.Shelves"):
        create_front_app(descriptor_set, {"other.v1.Svc": "127.0.0.1:1"})
    assert create_front_app(descriptor_set, {shelves.SERVICE: "127.0.0.1:1"}) is not None


def test_command_line_values() -> None:
    assert parse_upstreams(["*=127.0.0.1:9000", "pkg.v1.Svc=[::1]:9001"]) == {
        "*": "127.0.0.1:9000",
        "pkg.v1.Svc": "[::1]:9001",
    }
    for bad in ("127.0.0.1:9000", "a*b=h:1", "*=host"):
        with pytest.raises(ValueError, match="--upstream"):
            parse_upstreams([bad])
    assert (parse_rate("600/min"), parse_rate("5")) == (600, 5)
    for bad in ("0/min", "ten", "5/hour"):
        with pytest.raises(ValueError, match="--rate-limit"):
            parse_rate(bad)


def test_main_refuses_to_start_open_or_without_its_secret(
    descriptor_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["--descriptor-set", str(descriptor_file), "--upstream", "*=127.0.0.1:1"]
    with pytest.raises(SystemExit):
        main(base)  # neither --jwt-secret-env nor --no-auth
    monkeypatch.delenv("FRONT_TEST_SECRET", raising=False)
    assert main([*base, "--jwt-secret-env", "FRONT_TEST_SECRET"]) == 2
    assert "FRONT_TEST_SECRET is not set" in capsys.readouterr().err
    monkeypatch.setenv("FRONT_TEST_SECRET", "short")
    assert main([*base, "--jwt-secret-env", "FRONT_TEST_SECRET"]) == 2
    assert "32 bytes" in capsys.readouterr().err


async def test_the_command_serves_with_auth_and_limits(descriptor_file: Path, shelves_port: int) -> None:
    port = free_port()
    argv = [
        sys.executable, "-m", "edge.front", "--descriptor-set", str(descriptor_file),
        "--upstream", f"edgetest.v1.Shelves=127.0.0.1:{shelves_port}", "--port", str(port),
        "--jwt-secret-env", "FRONT_TEST_SECRET", "--rate-limit", "100/min", "--uvloop",
    ]
    env = {"FRONT_TEST_SECRET": SECRET, "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{REPO / 'generated'}"}
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        token = _token(Clock(time.time()))
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # up to 10 s to start
                try:
                    async with session.get(f"http://127.0.0.1:{port}/v1/echo/hey", headers=_bearer(token)) as reply:
                        assert reply.status == 200
                        assert (await reply.json())["text"] == "hey"
                        assert reply.headers["X-RateLimit-Limit"] == "100"
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("edge.front did not start")
            async with session.get(f"http://127.0.0.1:{port}/v1/echo/hey") as anonymous:
                assert anonymous.status == 401
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode == 0, err.decode()


def test_fronting_needs_no_agentmesh_service_code() -> None:
    probe = (
        "import sys, edge.front\n"
        "print(sorted(m for m in sys.modules if m in ('edge.mesh', 'edge.auth', 'edge.openapi')"
        " or m.startswith(('agentmesh.v1.auth', 'services.auth'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
