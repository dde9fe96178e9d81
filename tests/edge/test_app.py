"""The edge end to end: a real aiohttp server in front of a real grpc.aio server (edgetest.v1.Shelves)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import build_app, client_timeout, request_id_of
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.forward import MissingUpstream
from edge.routes import Router, build_router, methods_of
from services.common.policy import MethodInfo, Policy
from tests.edge import shelves
from tests.edge.conftest import MakeClient

Client = TestClient[web.Request, web.Application]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_error_body(body: dict[str, Any], status: int, code: str) -> None:
    assert set(body) == {"detail", "status_code", "error", "request_id", "timestamp"}
    assert body["status_code"] == status
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"]


async def test_unary_get_renders_json_with_proto_names(client: Client) -> None:
    reply = await client.get("/v1/shelves/s1/items/i1")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    body = await reply.json()
    assert (body["item_id"], body["shelf_id"], body["count"]) == ("i1", "s1", str(2**40))
    assert body["created_at"] == "2023-11-14T22:13:20Z"
    assert len(reply.headers["X-Request-ID"]) == 32


async def test_request_id_is_echoed_and_forwarded(client: Client, servicer: shelves.Shelves) -> None:
    reply = await client.post("/v1/echo", json={"text": "hi"}, headers={"X-Request-ID": "req-123"})
    assert reply.headers["X-Request-ID"] == "req-123"
    body = await reply.json()
    assert body["metadata"]["x-request-id"] == "req-123"
    assert body["text"] == "hi"


async def test_query_path_and_named_body(client: Client, servicer: shelves.Shelves) -> None:
    listed = await (await client.get("/v1/shelves/s1/items?tag=a&tag=b&color=COLOR_RED")).json()
    assert [i["title"] for i in listed["items"]] == ["a", "b"] and listed["total_size"] == "2"
    name, request, _ = servicer.requests[-1]
    assert name == "ListItems" and request.color == 1
    shout = await (await client.post("/v1/echo/hello%20world:shout", json={"city": "Lyon"})).json()
    assert (shout["text"], shout["address"]["city"]) == ("hello world", "Lyon")


async def test_create_drops_output_only_fields(client: Client, servicer: shelves.Shelves) -> None:
    reply = await client.post("/v1/shelves/s1/items", json={"title": "t", "ownerId": "attacker", "itemId": "x"})
    assert reply.status == 200
    _, request, _ = servicer.requests[-1]
    assert (request.item.owner_id, request.item.item_id, request.item.title) == ("", "", "t")
    assert (await reply.json())["owner_id"] == "owner-1"


async def test_missing_required_fields_fail_before_any_call(client: Client, servicer: shelves.Shelves) -> None:
    reply = await client.post("/v1/shelves/s1/items", json={"count": 1})
    assert reply.status == 400
    body = await reply.json()
    _assert_error_body(body, 400, "INVALID_ARGUMENT")
    assert body["error"]["details"][0]["field_violations"] == [
        {"field": "item.title", "description": "required field is missing"}
    ]
    assert servicer.requests == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"title": "t", "bogus": 1}', "item.bogus"),
        ("{not json", "body"),
        ('{"title": "t", "small": "x"}', "item.small"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(client: Client, data: str, field: str) -> None:
    reply = await client.post("/v1/shelves/s1/items", data=data, headers={"Content-Type": "application/json"})
    body = await reply.json()
    _assert_error_body(body, 400, "INVALID_ARGUMENT")
    if field != "body":
        assert body["error"]["details"][0]["field_violations"][0]["field"] == field


UPSTREAM_ERRORS = [
    ("missing", 404, "NOT_FOUND", "google.rpc.ResourceInfo"),
    ("bad", 400, "INVALID_ARGUMENT", "google.rpc.BadRequest"),
    ("busy", 429, "RESOURCE_EXHAUSTED", "google.rpc.RetryInfo"),
    ("crash", 500, "UNKNOWN", None),
]


@pytest.mark.parametrize(("item_id", "status", "code", "detail"), UPSTREAM_ERRORS)
async def test_upstream_errors_keep_status_and_details(
    client: Client, item_id: str, status: int, code: str, detail: str | None
) -> None:
    reply = await client.get(f"/v1/items/{item_id}")
    body = await reply.json()
    _assert_error_body(body, status, code)
    assert reply.status == status
    assert body["request_id"] == reply.headers["X-Request-ID"]
    types = [d["@type"].rsplit("/", 1)[-1] for d in body["error"]["details"]]
    assert types == ([detail] if detail else [])  # DebugInfo is stripped
    assert "secret" not in await reply.text() and "stack" not in await reply.text()
    if item_id == "busy":
        assert reply.headers["Retry-After"] == "7"


async def test_unknown_route_is_404_and_wrong_method_is_405(client: Client) -> None:
    missing = await client.get("/v1/nowhere")
    _assert_error_body(await missing.json(), 404, "NOT_FOUND")
    wrong = await client.delete("/v1/shelves/s1/items")
    _assert_error_body(await wrong.json(), 405, "METHOD_NOT_ALLOWED")
    assert wrong.headers["Allow"] == "GET, POST"


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 512):
        yield b" " * 512


async def test_bodies_past_the_limit_are_413(
    make_client: MakeClient, shelves_router: Router, shelves_port: int
) -> None:
    client = await make_client(
        shelves_router, {"*": f"127.0.0.1:{shelves_port}"}, settings=EdgeSettings(max_body_bytes=1024)
    )
    sized = await client.post("/v1/echo", data=b"{" + b" " * 2048 + b"}")
    _assert_error_body(await sized.json(), 413, "PAYLOAD_TOO_LARGE")
    chunked = await client.post("/v1/echo", data=_chunks(4096))
    _assert_error_body(await chunked.json(), 413, "PAYLOAD_TOO_LARGE")
    fine = await client.post("/v1/echo", json={"text": "small"})
    assert fine.status == 200


DEADLINES = [
    ({}, 29.0, 30.0),
    ({"Grpc-Timeout": "2S"}, 1.0, 2.0),
    ({"Grpc-Timeout": "1500m"}, 1.0, 1.5),
    ({"X-Request-Timeout": "1.5"}, 1.0, 1.5),
    ({"X-Request-Timeout": "500"}, 29.0, 30.0),  # never more than SERVICE_TIMEOUT
    ({"X-Request-Timeout": "nonsense", "Grpc-Timeout": "x"}, 29.0, 30.0),
]


@pytest.mark.parametrize(("headers", "low", "high"), DEADLINES)
async def test_deadline_is_the_smaller_of_settings_and_client(
    client: Client, headers: dict[str, str], low: float, high: float
) -> None:
    body = await (await client.post("/v1/echo", json={"text": "t"}, headers=headers)).json()
    assert low < body["deadline_seconds"] <= high + 0.2  # gRPC's wire format may round a deadline up


async def test_deadline_exceeded_is_504(client: Client) -> None:
    reply = await client.get("/v1/items/slow", headers={"X-Request-Timeout": "0.2"})
    _assert_error_body(await reply.json(), 504, "DEADLINE_EXCEEDED")


async def test_http_body_replies_are_raw(client: Client) -> None:
    export = await client.get("/v1/shelves/s1/export")
    assert (export.status, export.headers["Content-Type"]) == (200, "text/csv")
    assert await export.read() == b"id,title\ni1,A\n"
    download = await client.get("/v1/shelves/s1/download")
    assert (download.headers["Content-Type"], await download.read()) == ("application/octet-stream", b"\x00\x01raw")


async def test_stream_as_ndjson(client: Client) -> None:
    reply = await client.get("/v1/shelves/s1/items/watch?count=3")
    assert reply.headers["Content-Type"] == "application/x-ndjson"
    lines = (await reply.text()).splitlines()
    assert [line.split('"id":"')[1][:2] for line in lines] == ["e1", "e2", "e3"]


async def test_stream_as_sse_with_event_ids(client: Client) -> None:
    reply = await client.get("/v1/shelves/s1/items/watch?count=2", headers={"Accept": "text/event-stream"})
    assert reply.headers["Content-Type"] == "text/event-stream"
    events = (await reply.text()).split("\n\n")
    assert events[0].startswith('id: e1\ndata: {"id":"e1"')
    assert events[1].startswith("id: e2\ndata: ")


async def test_unary_and_stream_sharing_a_template_are_picked_by_accept(client: Client) -> None:
    unary = await client.get("/v1/shelves/s1/events?count=1")
    assert (await unary.json())["next_page_token"] == "unary"
    ndjson = await client.get("/v1/shelves/s1/events?count=1", headers={"Accept": "application/x-ndjson"})
    assert (await ndjson.text()).startswith('{"id":"e1"')
    sse = await client.get("/v1/shelves/s1/events?count=1", headers={"Accept": "text/event-stream"})
    assert (await sse.text()).startswith("id: e1\n")
    async with client.ws_connect("/v1/shelves/s1/events?count=2") as socket:  # an upgrade picks the stream
        frames = [await socket.receive_json(), await socket.receive_json()]
    assert [f["id"] for f in frames] == ["e1", "e2"]


async def test_stream_errors_before_and_after_the_first_message(client: Client) -> None:
    before = await client.get("/v1/shelves/gone/items/watch?count=1")
    _assert_error_body(await before.json(), 404, "NOT_FOUND")
    after = await client.get("/v1/shelves/broken/items/watch?count=1")
    assert after.status == 200
    lines = (await after.text()).splitlines()
    assert lines[0].startswith('{"id":"e1"')
    assert '"code":"UNAVAILABLE"' in lines[1] and '"status_code":503' in lines[1]
    sse = await client.get("/v1/shelves/broken/items/watch?count=1", headers={"Accept": "text/event-stream"})
    assert "\n\nevent: error\ndata: {" in await sse.text()


async def test_a_stream_failing_at_once_is_always_an_http_error(client: Client) -> None:
    # a failure comes as trailers only; the call may report their empty initial metadata just
    # before the status, and the edge must still answer with the error, not a 200 stream
    statuses = []
    for _ in range(200):
        reply = await client.get("/v1/shelves/gone/items/watch?count=1")
        statuses.append(reply.status)
        await reply.read()
    assert set(statuses) == {404}


async def test_a_client_leaving_a_stream_cancels_the_call(client: Client, servicer: shelves.Shelves) -> None:
    reply = await client.get("/v1/shelves/endless/items/watch?count=1")
    assert (await reply.content.readline()).startswith(b'{"id":"e1"')
    reply.close()
    await asyncio.wait_for(servicer.cancelled.wait(), 5)


async def test_authenticate_hook_adds_metadata(
    make_client: MakeClient, shelves_router: Router, shelves_port: int
) -> None:
    seen: list[str] = []

    async def authenticate(request: web.Request, info: MethodInfo) -> Sequence[tuple[str, str]]:
        seen.append(info.full_method)
        return [("x-user-id", request.headers.get("Authorization", "").removeprefix("Bearer "))]

    client = await make_client(shelves_router, {"*": f"127.0.0.1:{shelves_port}"}, authenticate=authenticate)
    body = await (await client.post("/v1/echo", json={}, headers={"Authorization": "Bearer u-7"})).json()
    assert body["metadata"]["x-user-id"] == "u-7"
    assert seen == ["/edgetest.v1.Shelves/Echo"]


async def test_authenticate_hook_refuses_before_the_body_is_read(
    make_client: MakeClient, shelves_router: Router, shelves_port: int, servicer: shelves.Shelves
) -> None:
    async def authenticate(request: web.Request, info: MethodInfo) -> Sequence[tuple[str, str]]:
        raise EdgeError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    client = await make_client(shelves_router, {"*": f"127.0.0.1:{shelves_port}"}, authenticate=authenticate)
    reply = await client.post("/v1/echo", data=b"{broken json")
    _assert_error_body(await reply.json(), 401, "UNAUTHENTICATED")
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert servicer.requests == []


async def test_unexpected_failures_are_500_logged_once_without_traceback(
    make_client: MakeClient, shelves_router: Router, shelves_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def authenticate(request: web.Request, info: MethodInfo) -> Sequence[tuple[str, str]]:
        raise RuntimeError("secret-internal-detail")

    caplog.set_level(logging.ERROR, logger="agentmesh.edge")
    client = await make_client(shelves_router, {"*": f"127.0.0.1:{shelves_port}"}, authenticate=authenticate)
    reply = await client.get("/v1/items/i1", headers={"X-Request-ID": "r-500"})
    text = await reply.text()
    _assert_error_body(await reply.json(), 500, "INTERNAL")
    assert "secret-internal-detail" not in text and "Traceback" not in text
    records = [r for r in caplog.records if r.name == "agentmesh.edge"]
    assert len(records) == 1 and records[0].exc_info is not None


async def test_unreachable_upstream_is_bad_gateway_naming_it(make_client: MakeClient, shelves_router: Router) -> None:
    client = await make_client(shelves_router, {shelves.SERVICE: f"127.0.0.1:{_closed_port()}"})
    reply = await client.get("/v1/items/i1")
    body = await reply.json()
    _assert_error_body(body, 503, "BAD_GATEWAY")
    assert body["error"]["service"] == shelves.SERVICE
    stream = await client.get("/v1/shelves/s1/items/watch?count=1")
    assert (await stream.json())["error"]["code"] == "BAD_GATEWAY"


async def test_success_status_from_policy_and_no_body_on_204(make_client: MakeClient, shelves_port: int) -> None:
    statuses = {"DeleteItem": 204, "CreateItem": 201}
    infos = [
        MethodInfo(m.full_method, m.unit, m.descriptor, Policy(success_status=statuses.get(m.descriptor.name, 200)))
        for m in methods_of([shelves.service()])
    ]
    client = await make_client(build_router(infos), {"*": f"127.0.0.1:{shelves_port}"})
    deleted = await client.delete("/v1/shelves/s1/items/i1")
    assert (deleted.status, await deleted.read()) == (204, b"")
    created = await client.post("/v1/shelves/s1/items", json={"title": "t"})
    assert created.status == 201 and (await created.json())["item_id"] == "i-1"


async def test_camel_case_output_when_configured(
    make_client: MakeClient, shelves_router: Router, shelves_port: int
) -> None:
    client = await make_client(
        shelves_router, {"*": f"127.0.0.1:{shelves_port}"}, settings=EdgeSettings(camel_case=True)
    )
    body = await (await client.get("/v1/items/i1")).json()
    assert body["itemId"] == "i1" and "item_id" not in body


def test_every_routed_method_needs_an_upstream(shelves_router: Router) -> None:
    with pytest.raises(MissingUpstream, match=r"edgetest\.v1\.Shelves"):
        build_app(shelves_router, {"auth": "127.0.0.1:1"})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Grpc-Timeout": "100m"}, 0.1),
        ({"Grpc-Timeout": "2H"}, 7200.0),
        ({"Grpc-Timeout": "123456789S"}, None),  # more than 8 digits
        ({"X-Request-Timeout": "0.25", "Grpc-Timeout": "1S"}, 0.25),
        ({"X-Request-Timeout": "-1"}, None),
        ({"X-Request-Timeout": "inf"}, None),
    ],
)
def test_client_timeout_headers(headers: dict[str, str], expected: float | None) -> None:
    assert client_timeout(headers) == expected


@pytest.mark.parametrize(
    ("given", "kept"), [("abc-123", True), ("", False), ("x" * 129, False), ("bad id\n", False), ("a/b+c=", True)]
)
def test_request_ids_are_kept_only_when_sane(given: str, kept: bool) -> None:
    assert (request_id_of({"X-Request-ID": given}) == given) is kept


async def test_plain_routes_added_later_win_over_the_catch_all(shelves_router: Router, shelves_port: int) -> None:
    app = build_app(shelves_router, {"*": f"127.0.0.1:{shelves_port}"})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)
    async with TestClient(TestServer(app)) as client:
        assert await (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/v1/items/i1")).status == 200


async def test_the_edge_still_runs_unary_calls_through_grpc_aio_when_asked(
    make_client: MakeClient, shelves_router: Router, shelves_port: int
) -> None:
    client: TestClient[web.Request, web.Application] = await make_client(
        shelves_router, {shelves.SERVICE: f"127.0.0.1:{shelves_port}"}, settings=EdgeSettings(own_http2=False)
    )
    reply = await client.get("/v1/shelves/s1/items/i1")
    assert reply.status == 200
    assert (await reply.json())["item_id"] == "i1"
