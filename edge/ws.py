"""Server-streaming RPCs over WebSocket, in the three ways the contracts ask for.

The method's policy option `websocket_protocol` picks one:

- "" (plain): the request comes from the path and query string; every reply
  message is one JSON text frame; the socket closes when the stream ends.
- "events" (seed 002's protocol on /ws and /api/v1/ws): one WatchEvents call
  for the caller's events; the client's `subscribe` / `unsubscribe` commands
  (glob patterns such as `instance.status.*`) choose which are sent, `ping`
  is answered; frames are `{type, event, data, id, timestamp}`. Filtering is
  done here on one long call, so changing a subscription loses nothing.
- "chat" (seed 003's /ws/{user_id}): every text frame the client sends is one
  StreamChat call (the frame's JSON is the request body, the path fills the
  rest, and it counts against the rate limit); its replies are sent back as
  frames.

Browsers cannot set headers on a WebSocket, so a token may also come as the
`access_token` (or `token`) query parameter, or as the subprotocol pair
`Sec-WebSocket-Protocol: bearer, <token>` (the socket then speaks `bearer`).

Limits (:class:`SocketLimits`): frames larger than `max_frame` close the
socket with 1009; a principal holds at most `max_sockets_per_user` sockets
(429 before the upgrade past that); an event socket holds at most
`max_subscriptions` patterns and writes through a bounded outbox
(:mod:`edge.wsevents`). Heartbeat pings every 30 s. When the edge shuts down,
every socket is closed with 1001 after the frames already queued are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import WSCloseCode, WSMsgType, web
from google.protobuf.message import Message

from edge import errors
from edge.errors import EdgeError, now_rfc3339
from edge.forward import UpstreamPool
from edge.routes import Match
from edge.transcode import BindError, MethodPlan
from edge.wsevents import EventSocket, FeedHub, Outbox, finish
from services.common.policy import MethodInfo

log = logging.getLogger("agentmesh.edge.ws")

TOKEN_PARAMS = ("access_token", "token")
BEARER_PROTOCOL = "bearer"
HEARTBEAT = 30.0
# How often an open socket's credential is checked again (expiry, logout, revoked key).
RECHECK_SECONDS = 5.0
CLOSE_UNAUTHENTICATED = 4401
# How long a shutting-down edge lets each socket send what it has queued.
DRAIN_SECONDS = 2.0
# Metadata that differs between sockets of one principal without changing what a feed sends them.
_UNSHARED_METADATA = frozenset({"authorization", "x-request-id"})

Authenticate = Callable[[web.Request, MethodInfo], Awaitable[Sequence[tuple[str, str]]]]


@dataclass(frozen=True, slots=True)
class SocketLimits:
    max_frame: int = 1024 * 1024
    max_sockets_per_user: int = 100
    max_subscriptions: int = 50
    # Event frames waiting for a slow client before events are dropped, and the drops that close it.
    send_queue: int = 256
    max_dropped: int = 1024


def with_handshake_token(request: web.Request) -> tuple[web.Request, tuple[str, ...]]:
    """The request with a query-string or subprotocol token moved into the Authorization header,
    and the subprotocols the socket may answer with."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    token = ""
    protocols: tuple[str, ...] = ()
    if len(offered) >= 2 and offered[0].lower() == BEARER_PROTOCOL:
        token, protocols = offered[1], (offered[0],)
    if "Authorization" in request.headers:
        return request, protocols
    token = next((request.query[name] for name in TOKEN_PARAMS if request.query.get(name)), token)
    if not token:
        return request, protocols
    headers = request.headers.copy()
    headers["Authorization"] = f"Bearer {token}"
    return request.clone(headers=headers), protocols


def _error_frame(error: EdgeError, request_id: str, **extra: Any) -> str:
    return json.dumps(
        {"type": "error", "error": error.message, "data": errors.error_body(error, request_id), **extra,
         "timestamp": now_rfc3339()}
    )


class WebSocketBridge:
    def __init__(
        self, pool: UpstreamPool, authenticate: Authenticate | None, *, camel: bool = False,
        limits: SocketLimits | None = None,
    ) -> None:
        self.pool = pool
        self.authenticate = authenticate
        self.camel = camel
        self.limits = limits or SocketLimits()
        self.feeds = FeedHub()
        self._frame_plans: dict[int, MethodPlan] = {}
        self._per_principal: Counter[str] = Counter()
        # How to close each open socket when the edge shuts down.
        self._closers: dict[web.WebSocketResponse, Callable[[], Awaitable[None]]] = {}
        # Checks the caller's credential again without counting a request (set by the edge's wiring);
        # a socket whose credential expired or was revoked is closed with 4401.
        self.recheck: Callable[[web.Request, MethodInfo], Awaitable[None]] | None = None
        self.recheck_every = RECHECK_SECONDS

    @property
    def open_sockets(self) -> int:
        return len(self._closers)

    async def serve(self, request: web.Request, match: Match, plan: MethodPlan, request_id: str) -> web.StreamResponse:
        info = match.target.info
        request, protocols = with_handshake_token(request)
        metadata: list[tuple[str, str]] = [("x-request-id", request_id)]
        if self.authenticate is not None:
            metadata.extend(await self.authenticate(request, info))  # refusals answer before the upgrade
        principal = dict(metadata).get("x-user-id") or f"address:{request.remote or ''}"
        if self._per_principal[principal] >= self.limits.max_sockets_per_user:
            raise EdgeError(429, f"at most {self.limits.max_sockets_per_user} open sockets per user",
                            code="RESOURCE_EXHAUSTED")
        query = [(k, v) for k, v in request.query.items() if k not in TOKEN_PARAMS]
        # No per-message compression: frames are small JSON, and an event's bytes are shared by its sockets.
        socket = web.WebSocketResponse(
            heartbeat=HEARTBEAT, max_msg_size=self.limits.max_frame, protocols=protocols, compress=False
        )
        await socket.prepare(request)
        self._per_principal[principal] += 1
        self._closers[socket] = lambda: self._going_away(socket)
        protocol = info.policy.websocket_protocol
        watchdog = (
            asyncio.create_task(self._watch_credential(socket, request, info, request_id))
            if self.recheck is not None else None
        )
        try:
            if protocol == "events":
                await self._events(socket, request.transport, match, plan, metadata, query, request_id)
            elif protocol == "chat":
                await self._chat(socket, request, match, plan, request_id)
            else:
                await self._plain(socket, match, plan, metadata, query, request_id)
        except ConnectionError:
            pass
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self._closers.pop(socket, None)
            self._per_principal[principal] -= 1
            if self._per_principal[principal] <= 0:
                del self._per_principal[principal]
            await socket.close()
        return socket

    @staticmethod
    async def _going_away(socket: web.WebSocketResponse) -> None:
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"the edge is shutting down")

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """Close every socket with 1001 (going away), after what each has queued is sent."""
        closers = list(self._closers.values())
        self._closers.clear()
        if closers:
            await asyncio.gather(*(close() for close in closers), return_exceptions=True)

    async def _watch_credential(
        self, socket: web.WebSocketResponse, request: web.Request, info: MethodInfo, request_id: str
    ) -> None:
        assert self.recheck is not None
        while not socket.closed:
            await asyncio.sleep(self.recheck_every)
            try:
                await self.recheck(request, info)
            except EdgeError as error:
                with contextlib.suppress(ConnectionError):
                    await socket.send_str(_error_frame(error, request_id))
                await socket.close(code=CLOSE_UNAUTHENTICATED, message=b"the credential is no longer valid")
                return

    # -- plain ----------------------------------------------------------------

    async def _plain(
        self, socket: web.WebSocketResponse, match: Match, plan: MethodPlan,
        metadata: list[tuple[str, str]], query: list[tuple[str, str]], request_id: str,
    ) -> None:
        message = await self._opening_request(socket, plan, match, query, request_id)
        if message is None:
            return
        info = match.target.info
        call = self.pool.stream(info.full_method)(message, metadata=metadata)
        reader = asyncio.create_task(self._drain_client(socket))
        try:
            async for reply in call:
                await socket.send_str(plan.render(reply).body.decode())
        except grpc.aio.AioRpcError as exc:
            error = errors.from_rpc_error(exc, service=info.unit, camel=self.camel)
            await socket.send_str(_error_frame(error, request_id))
        finally:
            call.cancel()
            reader.cancel()

    @staticmethod
    async def _drain_client(socket: web.WebSocketResponse) -> None:
        """Reading is what notices a closed socket; a plain feed ignores what the client says."""
        async for _ in socket:
            pass

    # -- events (seed 002) ------------------------------------------------------

    async def _events(
        self, socket: web.WebSocketResponse, request_transport: asyncio.Transport | None, match: Match,
        plan: MethodPlan, metadata: list[tuple[str, str]], query: list[tuple[str, str]], request_id: str,
    ) -> None:
        message = await self._opening_request(socket, plan, match, query, request_id)
        if message is None:
            return
        patterns: list[str] = list(getattr(message, "patterns", []))[: self.limits.max_subscriptions]
        if hasattr(message, "patterns"):
            del message.patterns[:]  # the edge filters, so one call serves every subscription change
        info = match.target.info
        transport = request_transport if not socket.compress else None
        outbox = Outbox(socket, capacity=self.limits.send_queue, max_dropped=self.limits.max_dropped,
                        transport=transport)
        state = EventSocket(outbox, patterns)
        writer = asyncio.create_task(outbox.run())
        self._closers[socket] = lambda: self._close_events(outbox, writer)
        principal = tuple(sorted((k, v) for k, v in metadata if k not in _UNSHARED_METADATA))
        key = (info.full_method, message.SerializeToString(deterministic=True), principal)

        def error_frame(exc: grpc.aio.AioRpcError) -> str:
            return _error_frame(errors.from_rpc_error(exc, service=info.unit, camel=self.camel), request_id)

        feed = self.feeds.join(
            key, lambda: self.pool.stream(info.full_method)(message, metadata=metadata), state, error_frame
        )
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                outbox.push(json.dumps(self._command(frame.data, state)))
                if writer.done():
                    break
        finally:
            feed.remove(state)
            if not writer.done():
                outbox.close(WSCloseCode.OK)
                await finish(writer, 1.0)

    @staticmethod
    async def _close_events(outbox: Outbox, writer: asyncio.Task[None]) -> None:
        outbox.close(WSCloseCode.GOING_AWAY, b"the edge is shutting down")
        await finish(writer, DRAIN_SECONDS)

    def _command(self, text: str, state: EventSocket) -> dict[str, Any]:
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if not isinstance(command, dict) or command.get("type", "command") != "command":
            return {"type": "error", "error": "Invalid command",
                    "data": {"details": "frames must be JSON objects of type 'command'"}, "timestamp": now_rfc3339()}
        name = command.get("event")
        frame_id = command.get("id")
        data = command.get("data") if isinstance(command.get("data"), dict) else {}
        asked = [p for p in data.get("events", []) if isinstance(p, str) and p] if data else []
        patterns = list(state.patterns)
        if name == "subscribe":
            if not asked:
                return self._invalid(name, "data.events must list event patterns", frame_id)
            patterns.extend(p for p in dict.fromkeys(asked) if p not in patterns)
            if len(patterns) > self.limits.max_subscriptions:
                return self._invalid(
                    name, f"at most {self.limits.max_subscriptions} subscriptions per socket", frame_id
                )
        elif name == "unsubscribe":
            patterns = [p for p in patterns if asked and p not in asked]
        elif name == "ping":
            return {"type": "response", "event": "pong", "id": frame_id, "timestamp": now_rfc3339()}
        else:
            return self._invalid(str(name), f"Command '{name}' not recognized", frame_id)
        state.set_patterns(patterns)
        return {"type": "response", "event": name, "data": {"events": patterns}, "id": frame_id,
                "timestamp": now_rfc3339()}

    @staticmethod
    def _invalid(name: str, details: str, frame_id: Any) -> dict[str, Any]:
        return {"type": "error", "error": "Invalid command", "data": {"details": details, "command": name},
                "id": frame_id, "timestamp": now_rfc3339()}

    # -- chat (seed 003) --------------------------------------------------------

    async def _chat(
        self, socket: web.WebSocketResponse, request: web.Request, match: Match, plan: MethodPlan, request_id: str
    ) -> None:
        info = match.target.info
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(frame.data)
            except ValueError:
                await socket.send_str(_error_frame(EdgeError(400, "frames must be JSON objects"), request_id))
                continue
            try:
                metadata: list[tuple[str, str]] = [("x-request-id", request_id)]
                if self.authenticate is not None:
                    metadata.extend(await self.authenticate(request, info))  # each frame is a limited call
                message = self._build(plan, match.variables, body, ())
                async for reply in self.pool.stream(info.full_method)(message, metadata=metadata):
                    await socket.send_str(plan.render(reply).body.decode())
            except EdgeError as refused:
                await socket.send_str(_error_frame(refused, request_id))
            except BindError as exc:
                bad = errors.bad_request(exc.message, exc.violations, camel=self.camel)
                await socket.send_str(_error_frame(bad, request_id))
            except grpc.aio.AioRpcError as exc:
                failed = errors.from_rpc_error(exc, service=info.unit, camel=self.camel)
                await socket.send_str(_error_frame(failed, request_id))


    # -- building requests ------------------------------------------------------

    def _build(
        self, plan: MethodPlan, variables: dict[str, str], body: Any, query: Sequence[tuple[str, str]]
    ) -> Message:
        """The request: a frame's JSON as the whole body, then path variables over it, then the query."""
        if body is None:
            return plan.build(variables, None, query)
        if not isinstance(body, dict):
            raise BindError.field("body", "must be a JSON object")
        return self._frame_plan(plan).build(variables, body, query)

    def _frame_plan(self, plan: MethodPlan) -> MethodPlan:
        """The binding's plan, reading a frame as `body: "*"` (a socket route itself has no body)."""
        found = self._frame_plans.get(id(plan))
        if found is None:
            found = copy.copy(plan)
            found.body = "*"
            self._frame_plans[id(plan)] = found
        return found

    async def _opening_request(
        self, socket: web.WebSocketResponse, plan: MethodPlan, match: Match,
        query: Sequence[tuple[str, str]], request_id: str,
    ) -> Message | None:
        try:
            return self._build(plan, match.variables, None, query)
        except BindError as exc:
            error = errors.bad_request(exc.message, exc.violations, camel=self.camel)
            await socket.send_str(_error_frame(error, request_id))
            return None
