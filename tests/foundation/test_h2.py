"""The platform's own HTTP/2 client for unary calls (services.common.h2: HPACK, the connection, the
channel) and the units' channels built on it, against real grpc.aio servers and, for the deadline
backstop and protocol corners, a scripted server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.channels import insecure_channel
from services.common.h2 import H2Channel, UnaryMethod
from services.common.h2.connection import USER_AGENT, grpc_timeout
from services.common.h2.hpack import Decoder, HpackError, huffman_decode, literal
from tests.conftest import free_port

SERVICE = "h2test.Probe"
Bytes = wrappers_pb2.BytesValue


# ---------------------------------------------------------------------------- HPACK (RFC 7541 Appendix C)


def test_requests_with_huffman_and_the_dynamic_table_decode_as_the_rfc_says() -> None:
    decoder = Decoder()
    first = decoder.decode(bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff"))
    assert first == ((":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"))
    second = decoder.decode(bytes.fromhex("828684be5886a8eb10649cbf"))
    assert second[3:] == ((":authority", "www.example.com"), ("cache-control", "no-cache"))
    third = decoder.decode(bytes.fromhex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))
    assert third[1:] == (
        (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    )


def test_entries_are_evicted_when_the_table_is_full() -> None:
    decoder = Decoder(max_table_size=256)
    first = decoder.decode(bytes.fromhex(
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e17"
        "68747470733a2f2f7777772e6578616d706c652e636f6d"
    ))
    assert first[0] == (":status", "302")
    second = decoder.decode(bytes.fromhex("4803333037c1c0bf"))  # ":status 307" pushes ":status 302" out
    assert second == (
        (":status", "307"), ("cache-control", "private"), ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    )
    with pytest.raises(HpackError):
        decoder.decode(bytes.fromhex("c2"))  # index 66: nothing is there any more


@pytest.mark.parametrize(
    "block",
    [
        "82ff",  # an index that needs continuation bytes that never come
        "41ff",  # a literal whose length runs past the block
        "be",  # an empty dynamic table has no entry 62
        "3fe21f",  # a table size above the advertised 4096
        "0083ffffff",  # a Huffman string holding EOS
    ],
)
def test_bad_blocks_are_refused(block: str) -> None:
    with pytest.raises(HpackError):
        Decoder().decode(bytes.fromhex(block))


def test_our_literals_decode_and_long_values_use_multibyte_lengths() -> None:
    long_value = "x" * 300
    block = literal(":path", "/h2test.Probe/Echo") + literal("te", "trailers") + literal("authorization", long_value)
    expected = ((":path", "/h2test.Probe/Echo"), ("te", "trailers"), ("authorization", long_value))
    assert Decoder().decode(block) == expected
    assert huffman_decode(bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff")) == b"www.example.com"


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.05, "50000000n"), (0.25, "250000u"), (30.0, "30000000u"), (120.0, "120000m"), (1e6, "1000000S")],
)
def test_grpc_timeout_uses_the_finest_unit_in_eight_digits(seconds: float, header: str) -> None:
    assert grpc_timeout(seconds) == header
    assert len(header) <= 9


# ---------------------------------------------------------------------------- a real server


class Probe:
    """A service of raw-bytes methods, with what the calls carried."""

    def __init__(self) -> None:
        self.metadata: dict[str, str] = {}
        self.remaining: float | None = None
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.calls = 0

    async def Echo(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self.calls += 1
        self.metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.remaining = context.time_remaining()
        return request

    async def Fail(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        context.set_trailing_metadata((("x-detail-bin", b"\x00\x01\xfe"), ("x-note", "kept")))
        await context.abort(grpc.StatusCode.NOT_FOUND, "no shelf 'é' at 100%")
        raise AssertionError("abort raises")

    async def Big(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        size = int(Bytes.FromString(request).value.decode())
        return Bytes(value=b"b" * size).SerializeToString()

    async def Slow(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await asyncio.sleep(float(Bytes.FromString(request).value.decode()))
        return request

    async def Hang(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return request


async def _serve(probe: Probe, port: int = 0, **options: Any) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=list(options.items()))
    names = ("Echo", "Fail", "Big", "Slow", "Hang")
    handlers = {name: grpc.unary_unary_rpc_method_handler(getattr(probe, name)) for name in names}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


Call = Callable[..., Awaitable[Any]]


@pytest.fixture
async def probe() -> AsyncIterator[tuple[Probe, int]]:
    found = Probe()
    server, port = await _serve(found)
    try:
        yield found, port
    finally:
        await server.stop(0)


@pytest.fixture
async def channels() -> AsyncIterator[Callable[[int], Callable[[str], UnaryMethod]]]:
    opened: list[H2Channel] = []

    def open_channel(port: int) -> Callable[[str], UnaryMethod]:
        channel = H2Channel(f"127.0.0.1:{port}")
        opened.append(channel)
        return lambda name: UnaryMethod(channel, f"/{SERVICE}/{name}", Bytes.FromString)

    yield open_channel
    for channel in opened:
        channel.close()


def _text(value: str | float) -> Bytes:
    return Bytes(value=str(value).encode())


async def test_calls_carry_metadata_and_deadline(probe: tuple[Probe, int], channels: Any) -> None:
    server, port = probe
    method = channels(port)
    metadata = (("x-request-id", "r-1"), ("authorization", "Bearer " + "t" * 400), ("x-user-id", "u1"))
    reply = await method("Echo")(Bytes(value=b"hello"), timeout=5.0, metadata=metadata)
    assert reply.value == b"hello"
    assert server.metadata["x-request-id"] == "r-1"
    assert server.metadata["authorization"] == "Bearer " + "t" * 400
    assert server.remaining is not None and 4.0 < server.remaining <= 5.0
    replies = await asyncio.gather(*(method("Echo")(_text(i), timeout=5.0) for i in range(50)))
    assert [r.value for r in replies] == [str(i).encode() for i in range(50)]


async def test_large_requests_and_replies_cross_the_flow_control_windows(
    probe: tuple[Probe, int], channels: Any
) -> None:
    _, port = probe
    method = channels(port)
    payload = bytes(range(256)) * 4096  # 1 MiB, far past a stream's initial 64 KiB window
    assert (await method("Echo")(Bytes(value=payload), timeout=10.0)).value == payload
    assert len((await method("Big")(_text(3 * 1024 * 1024), timeout=10.0)).value) == 3 * 1024 * 1024


async def test_replies_past_grpcs_receive_limit_are_refused(probe: tuple[Probe, int], channels: Any) -> None:
    _, port = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channels(port)("Big")(_text(5 * 1024 * 1024), timeout=10.0)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await channels(port)("Echo")(Bytes(value=b"after"), timeout=5.0)).value == b"after"


async def test_errors_keep_code_details_and_trailing_metadata(probe: tuple[Probe, int], channels: Any) -> None:
    _, port = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channels(port)("Fail")(Bytes(), timeout=5.0)
    error = caught.value
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "no shelf 'é' at 100%"
    trailers = dict(error.trailing_metadata() or ())
    assert trailers["x-detail-bin"] == b"\x00\x01\xfe"
    assert trailers["x-note"] == "kept"


async def test_unknown_methods_are_unimplemented(probe: tuple[Probe, int], channels: Any) -> None:
    _, port = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channels(port)("Nope")(Bytes(), timeout=5.0)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_short_deadline_ends_the_call_and_the_server_sees_it_end(
    probe: tuple[Probe, int], channels: Any
) -> None:
    server, port = probe
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channels(port)("Hang")(Bytes(), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - started < 2.0
    await asyncio.wait_for(server.cancelled.wait(), 5)


async def test_a_cancelled_caller_resets_its_stream(probe: tuple[Probe, int], channels: Any) -> None:
    server, port = probe
    task = asyncio.create_task(channels(port)("Hang")(Bytes(), timeout=20.0))
    await asyncio.wait_for(server.started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.cancelled.wait(), 5)


async def test_calls_wait_for_a_stream_when_the_server_allows_few(channels: Any) -> None:
    found = Probe()
    server, port = await _serve(found, **{"grpc.max_concurrent_streams": 1})
    try:
        method = channels(port)("Slow")
        replies = await asyncio.gather(*(method(_text(0.05), timeout=10.0) for _ in range(6)))
        assert len(replies) == 6
    finally:
        await server.stop(0)


async def test_a_down_upstream_fails_fast_then_is_reached_once_it_is_back(channels: Any) -> None:
    port = free_port()
    method = channels(port)("Echo")
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(Bytes(value=b"x"), timeout=5.0)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "failed to connect" in (caught.value.details() or "")
        assert time.monotonic() - started < 1.0
    found = Probe()
    server, _ = await _serve(found, port=port)
    try:
        await asyncio.sleep(0.3)  # past the reconnection backoff
        assert (await method(Bytes(value=b"back"), timeout=5.0)).value == b"back"
    finally:
        await server.stop(0)


async def test_a_restarted_upstream_gets_a_new_connection(channels: Any) -> None:
    found = Probe()
    server, port = await _serve(found)
    method = channels(port)("Echo")
    assert (await method(Bytes(value=b"one"), timeout=5.0)).value == b"one"
    await server.stop(None)
    server, _ = await _serve(found, port=port)
    try:
        reply, codes = None, []
        for _ in range(20):  # the first call may find the old connection closing, then waits out the backoff
            try:
                reply = await method(Bytes(value=b"two"), timeout=5.0)
                break
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
                await asyncio.sleep(0.1)
        assert reply is not None and reply.value == b"two"
        assert set(codes) <= {grpc.StatusCode.UNAVAILABLE}
    finally:
        await server.stop(0)


async def test_calls_in_flight_finish_when_the_server_drains(channels: Any) -> None:
    found = Probe()
    server, port = await _serve(found)
    method = channels(port)("Slow")
    flying = asyncio.create_task(method(_text(0.4), timeout=10.0))
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(server.stop(5))
    assert (await flying).value == b"0.4"
    await stopping


async def test_metadata_that_http2_cannot_carry_is_refused_before_sending(
    probe: tuple[Probe, int], channels: Any
) -> None:
    server, port = probe
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channels(port)("Echo")(Bytes(), timeout=5.0, metadata=(("x-user-email", "é@example.com"),))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert server.calls == 0


async def test_a_closed_channel_cancels_its_calls(probe: tuple[Probe, int]) -> None:
    server, port = probe
    channel = H2Channel(f"127.0.0.1:{port}")
    method = UnaryMethod(channel, f"/{SERVICE}/Hang", Bytes.FromString)
    task = asyncio.create_task(method(Bytes(), timeout=20.0))
    await asyncio.wait_for(server.started.wait(), 5)
    channel.close()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await task
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    with pytest.raises(grpc.aio.AioRpcError):
        await method(Bytes(), timeout=1.0)


@pytest.mark.parametrize("seconds", [0.3, 1.3])  # a timer each below a second, the periodic sweep above
async def test_the_deadline_holds_when_the_server_never_answers(seconds: float, channels: Any) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while await reader.read(65536):
            pass

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channels(port)("Echo")(Bytes(), timeout=seconds)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert seconds - 0.05 < time.monotonic() - started < seconds + 1.0
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()


async def test_unit_channels_send_unary_calls_themselves_and_streams_through_grpc_aio(
    probe: tuple[Probe, int],
) -> None:
    found, port = probe
    async with insecure_channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary(f"/{SERVICE}/Echo", request_serializer=Bytes.SerializeToString,
                                   response_deserializer=Bytes.FromString)
        assert isinstance(echo, UnaryMethod)
        reply = await echo(_text("hi"), metadata=[("x-user-id", "u1")], timeout=5)
        assert reply.value == b"hi" and found.metadata["x-user-id"] == "u1"
        assert found.metadata["user-agent"].startswith(USER_AGENT)  # our client, not grpc-core's
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await channel.unary_unary(f"/{SERVICE}/Fail", response_deserializer=Bytes.FromString)(_text(""))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        health = health_pb2_grpc.HealthStub(channel)  # streams: grpc.aio's (this server has no health service)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health.Watch(health_pb2.HealthCheckRequest()).read()
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---------------------------------------------------------------------------- a scripted server


Script = Callable[[int, int], list[bytes]]  # (connection number, stream id) -> frames to answer with


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def _answer(stream: int, value: bytes) -> list[bytes]:
    message = Bytes(value=value).SerializeToString()
    head = literal(":status", "200") + literal("content-type", "application/grpc")
    return [
        _frame(1, 4, stream, head),
        _frame(0, 0, stream, b"\x00" + len(message).to_bytes(4, "big") + message),
        _frame(1, 5, stream, literal("grpc-status", "0")),
    ]


class ScriptedServer:
    """Speaks just enough HTTP/2 to answer each request's HEADERS with the frames a script gives."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.received: list[tuple[int, int, int]] = []  # (connection, frame type, flags)
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        self.writers.append(writer)
        try:
            await reader.readexactly(24)  # the preface
            writer.write(_frame(4, 0, 0))  # our SETTINGS: all defaults
            while True:
                head = await reader.readexactly(9)
                length, kind, flags = int.from_bytes(head[:3], "big"), head[3], head[4]
                stream = int.from_bytes(head[5:], "big") & 0x7FFFFFFF
                await reader.readexactly(length)
                self.received.append((number, kind, flags))
                if kind == 1:
                    writer.write(b"".join(self.script(number, stream)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def scripted(channels: Any) -> AsyncIterator[Callable[[Script], Awaitable[tuple[ScriptedServer, Any]]]]:
    servers: list[ScriptedServer] = []

    async def start(script: Script) -> tuple[ScriptedServer, Any]:
        server = ScriptedServer(script)
        servers.append(server)
        port = await server.start()
        return server, channels(port)("Echo")

    yield start
    for server in servers:
        await server.close()


async def test_a_refused_stream_is_tried_once_more(scripted: Any) -> None:
    def script(number: int, stream: int) -> list[bytes]:
        if stream == 1:
            return [_frame(3, 0, stream, (7).to_bytes(4, "big"))]  # RST_STREAM REFUSED_STREAM
        return _answer(stream, b"ok")

    server, method = await scripted(script)
    assert (await method(Bytes(), timeout=5.0)).value == b"ok"
    assert server.connections == 1


async def test_calls_beyond_a_goaway_are_tried_again_on_a_new_connection(scripted: Any) -> None:
    goaway = _frame(7, 0, 0, (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))  # last stream 0: none processed
    server, method = await scripted(lambda number, stream: [goaway] if number == 0 else _answer(stream, b"again"))
    assert (await method(Bytes(), timeout=5.0)).value == b"again"
    assert server.connections == 2


async def test_padding_priority_continuation_and_ping_are_understood(scripted: Any) -> None:
    def script(number: int, stream: int) -> list[bytes]:
        head = literal(":status", "200") + literal("content-type", "application/grpc")
        message = Bytes(value=b"padded").SerializeToString()
        data = b"\x00" + len(message).to_bytes(4, "big") + message
        return [
            _frame(1, 0x08 | 0x20, stream, b"\x02" + b"\x00\x00\x00\x00\x10" + head[:3] + b"\x00\x00"),
            _frame(9, 4, stream, head[3:]),  # CONTINUATION ends the block
            _frame(6, 0, 0, b"12345678"),  # PING
            _frame(0, 0x08, stream, b"\x03" + data + b"\x00\x00\x00"),
            _frame(1, 5, stream, literal("grpc-status", "0")),
        ]

    server, method = await scripted(script)
    assert (await method(Bytes(), timeout=5.0)).value == b"padded"
    for _ in range(50):
        if (0, 6, 1) in server.received:
            break
        await asyncio.sleep(0.01)
    assert (0, 6, 1) in server.received  # the PING was acknowledged


@pytest.mark.parametrize(
    ("headers", "code", "details"),
    [
        ({":status": "200", "grpc-status": "5", "grpc-message": "gone%20away"}, grpc.StatusCode.NOT_FOUND, "gone away"),
        ({":status": "503"}, grpc.StatusCode.UNAVAILABLE, "Received http2 header with status: 503"),
        ({":status": "200"}, grpc.StatusCode.UNKNOWN, "missing grpc-status"),
    ],
)
async def test_trailers_only_answers_and_bare_http_statuses(
    scripted: Any, headers: dict[str, str], code: grpc.StatusCode, details: str
) -> None:
    block = b"".join(literal(name, value) for name, value in headers.items())
    _, method = await scripted(lambda number, stream: [_frame(1, 5, stream, block)])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(Bytes(), timeout=5.0)
    assert (caught.value.code(), caught.value.details()) == (code, details)


async def test_a_reset_stream_is_cancelled(scripted: Any) -> None:
    _, method = await scripted(lambda number, stream: [_frame(3, 0, stream, (8).to_bytes(4, "big"))])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(Bytes(), timeout=5.0)
    assert caught.value.code() == grpc.StatusCode.CANCELLED


async def test_a_protocol_error_closes_the_connection_and_the_next_call_opens_another(scripted: Any) -> None:
    oversized = (20000).to_bytes(3, "big") + bytes((0, 0)) + (1).to_bytes(4, "big")
    server, method = await scripted(lambda number, stream: [oversized] if number == 0 else _answer(stream, b"fine"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(Bytes(), timeout=5.0)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert (await method(Bytes(), timeout=5.0)).value == b"fine"
    assert server.connections == 2
