"""Unary calls to one gRPC server address over the platform's own HTTP/2 connection.

:class:`H2Channel` opens, replaces and closes the connections
(:mod:`services.common.h2.connection`); :class:`UnaryMethod` is one method
over it, called like a grpc.aio unary multicallable.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from services.common.h2.connection import U32, USER_AGENT, Connection, Unprocessed, grpc_timeout, rpc_error
from services.common.h2.hpack import encode_string, literal, literal_name

Metadata = Sequence[tuple[str, str | bytes]]

# Reconnection after a failure, as the platform's grpc channels do it (services.common.channels).
INITIAL_BACKOFF, MAX_BACKOFF, BACKOFF_FACTOR = 0.1, 1.0, 1.6
CONNECT_TIMEOUT = 20.0


class H2Channel:
    """Unary calls to one upstream address over one HTTP/2 connection, reopened when it fails.

    Like a grpc channel: the first call connects; while the address refuses
    connections, calls fail at once with UNAVAILABLE until the backoff has
    passed; a connection that is going away (GOAWAY, stream ids used up) keeps
    its calls while new ones go to a new connection.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = address
        self._host = host.strip("[]")
        self._port = int(port)
        self._connection: Connection | None = None
        self._connecting: asyncio.Future[Connection] | None = None
        self._opening: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._backoff = INITIAL_BACKOFF
        self._last_error = ""
        self._draining: set[Connection] = set()
        self._names: dict[str, bytes] = {}  # encoded metadata names
        self._timeout = -1.0
        self._timeout_literal = b""
        self._closed = False

    def prefix(self, path: str) -> bytes:
        """The constant part of a method's request header block."""
        return b"".join((
            b"\x83\x86",  # :method POST and :scheme http, from HPACK's static table
            literal(":path", path),
            literal(":authority", self.address),
            literal("content-type", "application/grpc"),
            literal("te", "trailers"),
            literal("user-agent", USER_AGENT),
        ))

    def header_block(self, prefix: bytes, metadata: Metadata, timeout: float | None) -> bytes:
        """A request's whole header block: the method's constant part, the deadline, the metadata."""
        parts = [prefix]
        if timeout is not None:
            if timeout != self._timeout:  # nearly every call carries the same deadline: encode it once
                self._timeout_literal = literal("grpc-timeout", grpc_timeout(timeout))
                self._timeout = timeout
            parts.append(self._timeout_literal)
        names = self._names
        for key, value in metadata:
            name = names.get(key)
            if name is None:
                name = literal_name(key)
                if len(names) < 256:
                    names[key] = name
            if isinstance(value, str):
                if not (value.isascii() and value.isprintable()):
                    raise rpc_error(grpc.StatusCode.INTERNAL, f"metadata value for key {key} is invalid")
                raw = value.encode("ascii")
            else:
                raw = base64.b64encode(value).rstrip(b"=")
            parts += (name, encode_string(raw))
        return b"".join(parts)

    def ready(self) -> Connection | None:
        """The connection new calls go to, when there is one that takes them."""
        connection = self._connection
        return connection if connection is not None and connection.usable else None

    async def call(self, block: bytes, payload: bytes, deadline: float | None, retried: bool = False) -> bytes:
        """The reply's bytes over a connection opened (or reopened) first; `retried` for a second try."""
        connection = await self._connect(deadline)
        try:
            return await connection.call(block, payload, deadline)
        except Unprocessed as unprocessed:
            if retried:
                raise unprocessed.error from None
        return await self.call(block, payload, deadline, retried=True)

    async def _connect(self, deadline: float | None) -> Connection:
        connection = self._connection
        if connection is not None and connection.usable:
            return connection
        if self._closed:
            raise rpc_error(grpc.StatusCode.CANCELLED, "Channel closed!")
        loop = asyncio.get_running_loop()
        if self._connecting is None:
            if loop.time() < self._retry_at:
                raise self._unavailable()
            self._connecting = loop.create_future()
            self._opening = loop.create_task(self._open(self._connecting))
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(self._connecting)
        except TimeoutError:
            raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None

    async def _open(self, done: asyncio.Future[Connection]) -> None:
        loop = asyncio.get_running_loop()
        connection: Connection | None = None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop, self._lost), self._host, self._port
                )
                await connection.settled  # the server's limits first: a burst must not exceed them
            if connection.lost:
                raise ConnectionResetError("the server closed the connection")
        except (OSError, TimeoutError) as exc:
            if connection is not None:
                connection.close()
            self._last_error = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "connection timed out"
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * BACKOFF_FACTOR, MAX_BACKOFF)
            self._connecting = None
            done.set_exception(self._unavailable())
            done.exception()  # marked as retrieved: every caller may have timed out meanwhile
            return
        self._backoff = INITIAL_BACKOFF
        self._connecting = None
        if self._connection is not None:
            self._draining.add(self._connection)
        self._connection = connection
        if self._closed:
            connection.close()
        done.set_result(connection)

    def _unavailable(self) -> grpc.aio.AioRpcError:
        return rpc_error(
            grpc.StatusCode.UNAVAILABLE,
            f"failed to connect to all addresses; last error: UNKNOWN: {self.address}: "
            f"Failed to connect to remote host: {self._last_error}",
        )

    def _lost(self, connection: Connection) -> None:
        self._draining.discard(connection)
        if connection is self._connection:
            self._connection = None

    def close(self) -> None:
        """Fail the calls in flight with CANCELLED and refuse new ones, as a closed grpc channel does."""
        self._closed = True
        connections = [*self._draining, *([self._connection] if self._connection is not None else [])]
        for connection in connections:
            connection.close()
        self._connection = None


class UnaryMethod:
    """One unary method over an H2Channel, called like a grpc.aio multicallable."""

    __slots__ = ("_channel", "_parse", "_prefix")

    def __init__(self, channel: H2Channel, full_method: str, parse: Callable[[bytes], Message]) -> None:
        self._channel = channel
        self._prefix = channel.prefix(full_method)
        self._parse = parse

    async def __call__(
        self,
        request: Message,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (grpc.aio's signature: the deadline goes upstream)
        metadata: Metadata | None = (),
    ) -> Any:
        """The reply message, or the AioRpcError grpc.aio would raise."""
        channel = self._channel
        block = channel.header_block(self._prefix, metadata or (), timeout)
        body = request.SerializeToString()
        payload = b"\x00" + U32.pack(len(body)) + body
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        connection = channel.ready()
        if connection is None or connection.full:
            raw = await channel.call(block, payload, deadline)
        else:  # the usual case, inline: one coroutine less between the handler and the reply
            call = connection.start(block, payload, deadline)
            try:
                raw = await call.future
            except Unprocessed:  # the server never saw it: once more (on a new connection if this one is going)
                raw = await channel.call(block, payload, deadline, retried=True)
            except asyncio.CancelledError:
                connection.cancel(call)
                raise
        try:
            return self._parse(raw)
        except DecodeError:
            raise rpc_error(grpc.StatusCode.INTERNAL, "Exception deserializing response!") from None
