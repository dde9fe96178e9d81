"""Seed 002's event sockets: shared upstream feeds, per-socket filters and bounded outboxes.

Many sockets of one principal (a user's browser tabs, a dashboard wall) ask
the admin unit for the same feed. The edge opens ONE WatchEvents call per
(method, request, principal) and fans each event out to the sockets that hold
it; each socket applies its own `subscribe` patterns, so changing them never
touches the upstream call. An event's frame is rendered once, whatever the
number of sockets.

Every socket writes through an :class:`Outbox`. While a client keeps up, an
event goes straight onto its connection: the frame's bytes (WebSocket framing
included) are built once per event and written to each socket's transport, no
task switch, no per-socket encoding (event sockets do not negotiate
compression). A client that falls behind (its transport buffer past
WRITE_BUFFER_LIMIT) gets its frames queued instead, at most `capacity` of
them. Past that, events are dropped and counted;
once the client catches up it gets one `bus.lagged` frame with the count (the
same notice the bus itself gives), and a client that lets more than
`max_dropped` events go by is closed with 1008. The edge's memory per socket
is bounded whatever the client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import struct
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any, Protocol

import grpc
from aiohttp import WSCloseCode, web
from google.protobuf import json_format
from google.protobuf.message import Message

from edge.errors import now_rfc3339

log = logging.getLogger("agentmesh.edge.ws")

SEND_QUEUE = 256
MAX_DROPPED = 1024
CLOSE_TOO_SLOW = WSCloseCode.POLICY_VIOLATION
# Bytes a client may have pending on its connection before its events wait in the outbox.
WRITE_BUFFER_LIMIT = 64 * 1024


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked WebSocket text frame (RFC 6455 section 5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class Rendered:
    """One event's frame, as text for queued sends and as wire bytes for direct writes; made once."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.text.encode())
        return self._wire


def event_frame(event: Message) -> str:
    as_dict = json_format.MessageToDict(event, preserving_proto_field_name=True)
    return json.dumps(
        {
            "type": "event",
            "event": as_dict.get("type", ""),
            "data": as_dict.get("data", {}),
            "id": as_dict.get("id", ""),
            "timestamp": as_dict.get("time", now_rfc3339()),
        }
    )


def lagged_frame(dropped: int) -> str:
    return json.dumps(
        {"type": "event", "event": "bus.lagged", "data": {"dropped": dropped, "reason": "slow_consumer"},
         "id": "", "timestamp": now_rfc3339()}
    )


class Outbox:
    """The frames waiting for one socket; a writer task sends them in order."""

    def __init__(self, socket: web.WebSocketResponse, *, capacity: int = SEND_QUEUE,
                 max_dropped: int = MAX_DROPPED, transport: asyncio.Transport | None = None) -> None:
        self._socket = socket
        # Given only for a socket without compression: frames are then written to it directly.
        self._transport = transport
        self._busy = False
        self._capacity = capacity
        self._max_dropped = max_dropped
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing: tuple[int, bytes] | None = None
        self.dropped = 0

    def offer(self, frame: Rendered) -> None:
        """An event: written now when the client keeps up, else queued, or dropped and counted when
        the client is too far behind."""
        if self._closing is not None:
            return
        transport = self._transport
        if (
            transport is not None and not self._frames and not self._busy and not self.dropped
            and not transport.is_closing() and transport.get_write_buffer_size() <= WRITE_BUFFER_LIMIT
        ):
            transport.write(frame.wire)
            return
        if len(self._frames) >= self._capacity:
            self.dropped += 1
            if self.dropped > self._max_dropped:
                self.close(CLOSE_TOO_SLOW, b"too slow: events were dropped")
            return
        self._frames.append(frame.text)
        self._wake.set()

    def push(self, frame: str) -> None:
        """A reply to the client's own command: never dropped (the client paces them)."""
        if self._closing is None:
            self._frames.append(frame)
            self._wake.set()

    def close(self, code: int, message: bytes = b"") -> None:
        """Send what is queued, then close the socket with `code` (the first reason wins)."""
        if self._closing is None:
            self._closing = (code, message)
            self._wake.set()

    @property
    def _too_slow(self) -> bool:
        """Closing a client that is not reading: it is not waited on."""
        return self._closing is not None and self._closing[0] == CLOSE_TOO_SLOW

    async def run(self) -> None:
        """The writer: until closed, send frames as the socket takes them."""
        socket = self._socket
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._busy = True
                while self._frames and not self._too_slow:
                    await socket.send_str(self._frames.popleft())
                    if not self._frames and self.dropped and not self._too_slow:
                        dropped, self.dropped = self.dropped, 0
                        await socket.send_str(lagged_frame(dropped))
                self._busy = False
                if self._closing is not None:
                    code, message = self._closing
                    await socket.close(code=code, message=message)
                    return
        except ConnectionError:
            return


class Listener(Protocol):
    def deliver(self, kind: str, frame: Callable[[], Rendered]) -> None: ...

    def ended(self, error_frame: str | None) -> None: ...


ErrorFrame = Callable[[grpc.aio.AioRpcError], str]


class SharedFeed:
    """One upstream server-streaming call, fanned out to the listeners that share it."""

    def __init__(self, call: Any, on_empty: Callable[[], None], error_frame: ErrorFrame,
                 render: Callable[[Message], Rendered] | None = None) -> None:
        self._call = call
        self._on_empty = on_empty
        self._error_frame = error_frame
        self._render = render or (lambda event: Rendered(event_frame(event)))
        self.listeners: set[Listener] = set()
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def add(self, listener: Listener) -> None:
        self.listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners:
            self.stop()

    def stop(self) -> None:
        self._on_empty()
        self._call.cancel()
        self._task.cancel()

    async def _pump(self) -> None:
        error: str | None = None
        try:
            async for reply in self._call:
                event = getattr(reply, "event", reply)
                rendered: list[Rendered] = []

                def frame(event: Message = event, rendered: list[Rendered] = rendered) -> Rendered:
                    if not rendered:
                        rendered.append(self._render(event))
                    return rendered[0]

                for listener in tuple(self.listeners):
                    listener.deliver(getattr(event, "type", ""), frame)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                error = self._error_frame(exc)
        except asyncio.CancelledError:
            return
        self._on_empty()
        for listener in tuple(self.listeners):
            listener.ended(error)


class FeedHub:
    """The shared feeds of one edge process, by (method, request, principal).

    An event reaches every feed that may see it (a broadcast: the feed of every
    signed-in principal), so its frame is made once per process: the latest
    frames are kept by event id.
    """

    RENDERED = 1024

    def __init__(self) -> None:
        self._feeds: dict[Hashable, SharedFeed] = {}
        self._rendered: OrderedDict[tuple[str, str], Rendered] = OrderedDict()

    def render(self, event: Message) -> Rendered:
        event_id = getattr(event, "id", "")
        if not event_id:  # a notice of the bus's own, made for one subscriber
            return Rendered(event_frame(event))
        key = (event.DESCRIPTOR.full_name, event_id)  # bus ids are unique among the bus's events
        found = self._rendered.get(key)
        if found is None:
            found = self._rendered[key] = Rendered(event_frame(event))
            if len(self._rendered) > self.RENDERED:
                self._rendered.popitem(last=False)
        return found

    def join(
        self, key: Hashable, open_call: Callable[[], Any], listener: Listener, error_frame: ErrorFrame
    ) -> SharedFeed:
        feed = self._feeds.get(key)
        if feed is None:
            feed = SharedFeed(open_call(), lambda: self._forget(key), error_frame, self.render)
            self._feeds[key] = feed
        feed.add(listener)
        return feed

    def _forget(self, key: Hashable) -> None:
        self._feeds.pop(key, None)


class EventSocket:
    """One socket's subscription state: its patterns and its outbox."""

    def __init__(self, outbox: Outbox, patterns: list[str]) -> None:
        self.outbox = outbox
        self.patterns = patterns
        self._matches: dict[str, bool] = {}

    def deliver(self, kind: str, frame: Callable[[], Rendered]) -> None:
        if self.wants(kind):
            self.outbox.offer(frame())

    def wants(self, kind: str) -> bool:
        if not self.patterns:
            return True
        found = self._matches.get(kind)
        if found is None:
            found = any(fnmatch.fnmatchcase(kind, p) for p in self.patterns)
            if len(self._matches) < 1024:
                self._matches[kind] = found
        return found

    def set_patterns(self, patterns: list[str]) -> None:
        self.patterns[:] = patterns
        self._matches.clear()

    def ended(self, error_frame: str | None) -> None:
        if error_frame is not None:
            self.outbox.push(error_frame)
            self.outbox.close(WSCloseCode.INTERNAL_ERROR)
        else:
            self.outbox.close(WSCloseCode.SERVICE_RESTART, b"the event feed ended; reconnect")


async def finish(outbox_task: asyncio.Task[None], within: float) -> None:
    """Wait for an outbox to send what it holds and close, for at most `within` seconds."""
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(outbox_task), within)
    outbox_task.cancel()
