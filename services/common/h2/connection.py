"""One cleartext HTTP/2 connection to a gRPC server, carrying unary calls.

grpc.aio hands every call from the event loop to grpc-core's threads and back;
on one core that hand-off, not the HTTP/2 work, is most of what a call costs.
A unary call is simple on the wire (HEADERS and one DATA frame out; HEADERS,
DATA and trailing HEADERS back), so :class:`Connection` speaks it directly as
an asyncio protocol in the loop's own thread, the way grpc's insecure channels
do (HTTP/2 with prior knowledge).

A call ends with the reply's bytes or a :class:`grpc.aio.AioRpcError` carrying
what grpc.aio would report: the status code, its details and the trailing
metadata (``-bin`` values decoded, so ``grpc-status-details-bin`` reaches
the callers as bytes). The deadline travels as ``grpc-timeout`` and is
enforced here as well; a caller that is cancelled resets its stream. Flow
control in both directions, SETTINGS, PING, RST_STREAM and GOAWAY are
honoured; replies above grpc's default 4 MiB receive limit are refused. A
stream the server never processed (refused, or beyond a GOAWAY) fails with
:class:`Unprocessed`, which the channel tries once more, as grpc-core does.
Opening, replacing and closing connections is :mod:`services.common.h2.channel`'s.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import unquote

import grpc

from services.common.h2.hpack import Decoder, Headers, HpackError

MAX_RECEIVE = 4 * 1024 * 1024  # grpc's default max_receive_message_length
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, _PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
_HEAD = struct.Struct(">BHBBI")
U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")
_MAX_STREAM_ID = 2**31 - 1
_STREAM_WINDOW = 8 * 1024 * 1024  # above MAX_RECEIVE: a reply never waits on a stream window update
_CONNECTION_WINDOW = 16 * 1024 * 1024
_DEFAULT_WINDOW = 65535
_MAX_FRAME = 16384  # what this side accepts (the default; never raised)
_MAX_HEADER_BLOCK = 1024 * 1024
_NO_ERROR, _PROTOCOL_ERROR, _REFUSED_STREAM, _CANCEL = 0x0, 0x1, 0x7, 0x8
# Deadlines further away than this are checked by a sweep every _SWEEP_EVERY seconds, not by a
# timer each: one timer per call costs more than the rest of the call's bookkeeping.
_COARSE_AFTER, _SWEEP_EVERY = 1.0, 0.05
_TIMEOUT_UNITS = ((1e9, "n"), (1e6, "u"), (1e3, "m"), (1.0, "S"), (1 / 60, "M"), (1 / 3600, "H"))
_RESERVED = frozenset({"grpc-status", "grpc-message", "content-type", "grpc-encoding", "grpc-accept-encoding"})
# grpc-core's mapping of HTTP/2 error codes (RST_STREAM, GOAWAY) to gRPC status codes.
_RESET_CODES = {_REFUSED_STREAM: grpc.StatusCode.UNAVAILABLE, _CANCEL: grpc.StatusCode.CANCELLED,
                0xB: grpc.StatusCode.RESOURCE_EXHAUSTED, 0xC: grpc.StatusCode.PERMISSION_DENIED}
# grpc's mapping of an HTTP status without a grpc-status.
_HTTP_CODES = {400: grpc.StatusCode.INTERNAL, 401: grpc.StatusCode.UNAUTHENTICATED,
               403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.UNIMPLEMENTED,
               429: grpc.StatusCode.UNAVAILABLE, 502: grpc.StatusCode.UNAVAILABLE,
               503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.UNAVAILABLE}
_CODES = {code.value[0]: code for code in grpc.StatusCode}
USER_AGENT = f"grpc-python-asyncio/{grpc.__version__} agentmesh"

Metadata = Sequence[tuple[str, str | bytes]]


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return _HEAD.pack(size >> 16, size & 0xFFFF, kind, flags, stream) + payload


def grpc_timeout(seconds: float) -> str:
    """The grpc-timeout header: at most 8 digits, in the finest unit that fits."""
    for scale, unit in _TIMEOUT_UNITS:
        value = math.ceil(seconds * scale)
        if value < 100_000_000:
            return f"{max(value, 1)}{unit}"
    return "99999999H"


def rpc_error(code: grpc.StatusCode, details: str, trailers: Metadata = ()) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details)


class Unprocessed(Exception):
    """The server did not process the stream (refused it, or it lies beyond a GOAWAY): safe to retry."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details())
        self.error = error


class Call:
    """One unary call in flight: `future` ends with the reply's bytes or the call's error."""

    __slots__ = ("deadline", "future", "headers", "pending", "received", "stream", "timer", "window")

    def __init__(self, future: asyncio.Future[bytes], stream: int, window: int, deadline: float | None) -> None:
        self.future = future
        self.stream = stream
        self.window = window  # what this side may still send on the stream
        self.deadline = deadline
        self.headers: Headers | None = None
        self.received: bytes | bytearray = b""
        self.pending: memoryview | None = None  # request bytes waiting for window
        self.timer: asyncio.TimerHandle | None = None


class Connection(asyncio.Protocol):
    """One HTTP/2 connection carrying any number of concurrent unary calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[Connection], None]) -> None:
        self._loop = loop
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._outbox: list[bytes] = []  # frames written at the end of this loop iteration, in one send
        self._calls: dict[int, Call] = {}
        self._next_stream = 1
        self._decoder = Decoder()
        self._buffer = b""
        self._block: bytearray | None = None  # a header block awaiting CONTINUATION frames
        self._block_stream = 0
        self._block_flags = 0
        self._peer_frame = 16384
        self._peer_window = _DEFAULT_WINDOW  # the initial window of each new stream
        self._peer_streams = 2**31
        self._window = _DEFAULT_WINDOW  # connection-level send window
        self._unacknowledged = 0  # received DATA bytes not yet returned with WINDOW_UPDATE
        self._blocked: list[Call] = []
        self._waiting: list[asyncio.Future[None]] = []  # calls waiting for a stream slot
        self._sweeper: asyncio.TimerHandle | None = None
        self.usable = True  # new calls may start here
        self.lost = False
        # Set by the server's first SETTINGS (its stream limit, window, frame size): calls wait for it.
        self.settled: asyncio.Future[None] = loop.create_future()

    # -- lifecycle -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        settings = _SETTING.pack(0x2, 0) + _SETTING.pack(0x4, _STREAM_WINDOW)
        self._transport.write(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, U32.pack(_CONNECTION_WINDOW - _DEFAULT_WINDOW))
        )

    def connection_lost(self, exc: Exception | None) -> None:
        reason = "Socket closed" if exc is None else f"Connection reset: {exc}"
        self._shut(rpc_error(grpc.StatusCode.UNAVAILABLE, reason))

    def _shut(self, error: grpc.aio.AioRpcError) -> None:
        if self.lost:
            return
        self.usable, self.lost = False, True
        if not self.settled.done():
            self.settled.set_result(None)  # whoever waits for it finds the connection lost
        calls, self._calls = list(self._calls.values()), {}
        for call in calls:
            self._fail(call, error)
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_result(None)
        self._waiting.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._transport is not None:
            self._drain()
            self._transport.close()
        self._on_lost(self)

    def _write(self, data: bytes) -> None:
        if self._outbox:
            self._outbox.append(data)
        else:
            self._outbox.append(data)
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        if self._outbox:
            out, self._outbox = self._outbox, []
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def close(self) -> None:
        self._shut(rpc_error(grpc.StatusCode.CANCELLED, "Channel closed!"))

    # -- calls -----------------------------------------------------------------

    @property
    def full(self) -> bool:
        """Whether a new call must wait for one in flight to end (the server's stream limit)."""
        return len(self._calls) >= self._peer_streams

    async def call(self, block: bytes, payload: bytes, deadline: float | None) -> bytes:
        """Send one request (header block, framed message) and wait for its message."""
        while self.full and not self.lost:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiting.append(waiter)
            await waiter
        call = self.start(block, payload, deadline)
        try:
            return await call.future
        except asyncio.CancelledError:
            self.cancel(call)
            raise

    def start(self, block: bytes, payload: bytes, deadline: float | None) -> Call:
        """Send one request now; the caller awaits `call.future` and, if it is cancelled,
        calls :meth:`cancel`. Raises Unprocessed when this connection takes no new calls."""
        if self.lost or not self.usable:
            raise Unprocessed(rpc_error(grpc.StatusCode.UNAVAILABLE, "the connection is closing"))
        stream = self._next_stream
        self._next_stream += 2
        if self._next_stream > _MAX_STREAM_ID:
            self.usable = False
        call = Call(self._loop.create_future(), stream, self._peer_window, deadline)
        self._calls[stream] = call
        if deadline is not None:
            if deadline - self._loop.time() < _COARSE_AFTER:
                call.timer = self._loop.call_at(deadline, self._expire, call)
            elif self._sweeper is None:
                self._sweeper = self._loop.call_later(_SWEEP_EVERY, self._sweep)
        self._send(call, block, payload)
        return call

    def cancel(self, call: Call) -> None:
        """The caller gave up: reset the stream (nothing is sent if it already ended)."""
        if self._calls.pop(call.stream, None) is not None:
            self._reset(call, _CANCEL)

    def _sweep(self) -> None:
        """Expire the calls with distant deadlines that have passed (checked every few tens of ms:
        the server enforces the same deadline from grpc-timeout, this is the backstop)."""
        self._sweeper = None
        now = self._loop.time()
        waiting = False
        for call in list(self._calls.values()):
            if call.deadline is not None and call.timer is None:
                if call.deadline <= now:
                    self._expire(call)
                else:
                    waiting = True
        if waiting and not self.lost:
            self._sweeper = self._loop.call_later(_SWEEP_EVERY, self._sweep)

    def _send(self, call: Call, block: bytes, payload: bytes) -> None:
        stream, limit = call.stream, self._peer_frame
        if len(block) <= limit:
            out = [frame(HEADERS, END_HEADERS, stream, block)]
        else:
            pieces = [block[i : i + limit] for i in range(0, len(block), limit)]
            out = [frame(HEADERS, 0, stream, pieces[0])]
            out += [frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, stream, piece)
                    for i, piece in enumerate(pieces[1:], 1)]
        size = len(payload)
        if size <= limit and size <= self._window and size <= call.window:
            out.append(frame(DATA, END_STREAM, stream, payload))
            self._window -= size
            call.window -= size
            self._write(b"".join(out))
            return
        self._write(b"".join(out))
        call.pending = memoryview(payload)
        self._blocked.append(call)
        self._flush()

    def _flush(self) -> None:
        """Send what the windows allow of the requests waiting for them, in order."""
        still: list[Call] = []
        for call in self._blocked:
            pending = call.pending
            if pending is None or call.stream not in self._calls:
                continue
            while True:
                size = min(len(pending), self._peer_frame, self._window, call.window)
                last = size == len(pending)
                if size <= 0 and not last:
                    break
                self._write(frame(DATA, END_STREAM if last else 0, call.stream, bytes(pending[:size])))
                self._window -= size
                call.window -= size
                pending = pending[size:]
                if last:
                    break
            call.pending = pending if len(pending) else None
            if call.pending is not None:
                still.append(call)
        self._blocked = still

    def _expire(self, call: Call) -> None:
        if self._calls.pop(call.stream, None) is not None:
            self._reset(call, _CANCEL)
            self._fail(call, rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))

    def _reset(self, call: Call, code: int) -> None:
        if call.timer is not None:
            call.timer.cancel()
        if not self.lost:
            self._write(frame(RST_STREAM, 0, call.stream, U32.pack(code)))
        self._released()

    def _released(self) -> None:
        if self._waiting:
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(None)
        if not self.usable and not self._calls and not self.lost:
            self._shut(rpc_error(grpc.StatusCode.UNAVAILABLE, "Socket closed"))

    def _fail(self, call: Call, error: BaseException) -> None:
        if call.timer is not None:
            call.timer.cancel()
        if not call.future.done():
            call.future.set_exception(error)

    def _finish(self, call: Call, trailers: Headers) -> None:
        del self._calls[call.stream]
        if call.timer is not None:
            call.timer.cancel()
        self._released()
        if call.future.done():
            return
        status, details, metadata = None, "", []
        for name, value in trailers:
            if name == "grpc-status":
                status = _CODES.get(int(value) if value.isdigit() else -1, grpc.StatusCode.UNKNOWN)
            elif name == "grpc-message":
                details = unquote(value) if "%" in value else value
            elif name[0] != ":" and name not in _RESERVED:
                metadata.append((name, _binary(value) if name.endswith("-bin") else value))
        if status is None:
            http = next((v for n, v in call.headers or trailers if n == ":status"), "")
            status = _HTTP_CODES.get(int(http), grpc.StatusCode.UNKNOWN) if http.isdigit() else grpc.StatusCode.UNKNOWN
            if not details:
                details = "missing grpc-status" if http in ("", "200") else f"Received http2 header with status: {http}"
        if status != grpc.StatusCode.OK:
            call.future.set_exception(rpc_error(status, details, metadata))
            return
        body = call.received
        if len(body) < 5 or len(body) != 5 + U32.unpack_from(body, 1)[0]:
            call.future.set_exception(rpc_error(grpc.StatusCode.INTERNAL, "the reply is not one whole message"))
            return
        call.future.set_result(bytes(body[5:]))

    # -- frames in -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        position, size = 0, len(data)
        try:
            while size - position >= 9:
                high, low, kind, flags, stream = _HEAD.unpack_from(data, position)
                length = (high << 16) | low
                if length > _MAX_FRAME:
                    raise _ProtocolError("frame larger than the advertised maximum")
                end = position + 9 + length
                if end > size:
                    break
                payload = data[position + 9 : end]
                position = end
                stream &= _MAX_STREAM_ID
                if self._block is not None and kind != CONTINUATION:
                    raise _ProtocolError("header block interrupted")
                if kind == DATA:
                    self._on_data(flags, stream, payload)
                elif kind in (HEADERS, CONTINUATION):
                    self._on_headers(kind, flags, stream, payload)
                elif kind == SETTINGS:
                    if not flags & ACK:
                        self._on_settings(payload)
                elif kind == WINDOW_UPDATE:
                    self._on_window(stream, payload)
                elif kind == PING:
                    if not flags & ACK:
                        self._write(frame(PING, ACK, 0, payload))
                elif kind == RST_STREAM:
                    self._on_reset(stream, payload)
                elif kind == GOAWAY:
                    self._on_goaway(payload)
                elif kind == PUSH_PROMISE:
                    raise _ProtocolError("push promised though disabled")
        except (_ProtocolError, HpackError, struct.error) as exc:
            if not self.lost:
                self._write(frame(GOAWAY, 0, 0, U32.pack(0) + U32.pack(_PROTOCOL_ERROR)))
            self._shut(rpc_error(grpc.StatusCode.INTERNAL, f"HTTP/2 protocol error from the upstream: {exc}"))
            return
        if position < size:
            self._buffer = data[position:]

    def _on_data(self, flags: int, stream: int, payload: bytes) -> None:
        length = len(payload)
        if flags & PADDED:
            payload = payload[1 : length - payload[0]]
        self._unacknowledged += length
        if self._unacknowledged >= _CONNECTION_WINDOW // 2:
            self._write(frame(WINDOW_UPDATE, 0, 0, U32.pack(self._unacknowledged)))
            self._unacknowledged = 0
        call = self._calls.get(stream)
        if call is None:
            return
        received = call.received
        if not received:
            received = payload  # the usual case: the whole message in one frame, kept as it came
        elif isinstance(received, bytes):
            received = bytearray(received) + payload
        else:
            received += payload
        call.received = received
        if len(received) >= 5:
            if received[0]:
                self._abort(call, grpc.StatusCode.INTERNAL, "compressed replies are not accepted")
                return
            message = U32.unpack_from(received, 1)[0]
            if message > MAX_RECEIVE:
                self._abort(call, grpc.StatusCode.RESOURCE_EXHAUSTED,
                            f"Received message larger than max ({message} vs. {MAX_RECEIVE})")
                return
        if flags & END_STREAM:
            self._finish(call, ())

    def _abort(self, call: Call, code: grpc.StatusCode, details: str) -> None:
        del self._calls[call.stream]
        self._reset(call, _CANCEL)
        self._fail(call, rpc_error(code, details))

    def _on_headers(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == CONTINUATION:
            if self._block is None or stream != self._block_stream:
                raise _ProtocolError("CONTINUATION without HEADERS")
            self._block += payload
            if len(self._block) > _MAX_HEADER_BLOCK:
                raise _ProtocolError("header block too large")
            flags = self._block_flags | (flags & END_HEADERS)
        else:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            if not flags & END_HEADERS:
                self._block, self._block_stream, self._block_flags = bytearray(payload), stream, flags
                return
        if self._block is not None:
            if not flags & END_HEADERS:
                return
            payload, self._block = bytes(self._block), None
        headers = self._decoder.decode(payload)  # always: the table must follow every block
        call = self._calls.get(stream)
        if call is None:
            return
        if call.headers is None and not flags & END_STREAM:
            call.headers = headers
        elif flags & END_STREAM:
            self._finish(call, headers)

    def _on_settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise _ProtocolError("SETTINGS of a bad length")
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == 0x3:
                self._peer_streams = value
            elif key == 0x4:
                if value > _MAX_STREAM_ID:
                    raise _ProtocolError("initial window too large")
                delta, self._peer_window = value - self._peer_window, value
                for call in self._calls.values():
                    call.window += delta
            elif key == 0x5:
                if not 16384 <= value <= 16777215:
                    raise _ProtocolError("bad maximum frame size")
                self._peer_frame = value
        self._write(frame(SETTINGS, ACK, 0))
        if not self.settled.done():
            self.settled.set_result(None)
        if self._blocked:
            self._flush()

    def _on_window(self, stream: int, payload: bytes) -> None:
        increment = U32.unpack(payload)[0] & _MAX_STREAM_ID
        if stream == 0:
            self._window += increment
        else:
            call = self._calls.get(stream)
            if call is None:
                return
            call.window += increment
        if self._blocked:
            self._flush()

    def _on_reset(self, stream: int, payload: bytes) -> None:
        call = self._calls.pop(stream, None)
        if call is None:
            return
        code = U32.unpack(payload)[0]
        if call.timer is not None:
            call.timer.cancel()
        self._released()
        code_of = _RESET_CODES.get(code, grpc.StatusCode.INTERNAL)
        error = rpc_error(code_of, f"Received RST_STREAM with error code {code}")
        self._fail(call, Unprocessed(error) if code == _REFUSED_STREAM else error)

    def _on_goaway(self, payload: bytes) -> None:
        last = U32.unpack_from(payload, 0)[0] & _MAX_STREAM_ID
        self.usable = False
        for stream in [s for s in self._calls if s > last]:
            call = self._calls.pop(stream)
            self._fail(call, Unprocessed(rpc_error(grpc.StatusCode.UNAVAILABLE, "the upstream is going away")))
        self._released()


class _ProtocolError(Exception):
    pass


def _binary(value: str) -> Any:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return value.encode("latin-1")
