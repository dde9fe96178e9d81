"""The edge's aiohttp application: one catch-all route, one handler per call kind.

Data path of a request: the router matches the compiled template (404/405 in
the standard body otherwise) → the `authenticate` hook turns credentials into
metadata for the unit, or refuses → the body is read within the size limit
and the method's plan builds the request message → the unit is called over
the pooled channel with the deadline and the request id → the plan renders
the reply (or :mod:`edge.errors` the failure). Server-streaming methods are
served to plain HTTP clients as NDJSON (``Accept: application/x-ndjson``, and
by default) or as Server-Sent Events (``Accept: text/event-stream``).

Seams for what comes later, so that it plugs in without touching the data
path: `authenticate` (JWT, API keys, policy checks; may raise
:class:`~edge.errors.EdgeError` with any status and headers), `middlewares`
(CORS, security headers, rate limits, access logs), extra routes added to
the returned application (health, metrics, OpenAPI; a plain route there wins
over the catch-all). WebSocket upgrades of streaming methods go to :mod:`edge.ws`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message

from edge import errors
from edge.config import EdgeSettings
from edge.errors import EdgeError
from edge.forward import UpstreamPool
from edge.jsoncodec import Codec
from edge.routes import Router, Target
from edge.transcode import BindError, MethodPlan, event_id_getter, parse_json
from edge.ws import WebSocketBridge
from services.common.policy import MethodInfo

log = logging.getLogger("agentmesh.edge")

# (request, method) -> metadata for the unit; raises EdgeError (401, 403, 429...) to refuse.
Authenticate = Callable[[web.Request, MethodInfo], Awaitable[Sequence[tuple[str, str]]]]

# Headers a hook wants on the answer to its request (a front door's rate-limit headers): the
# dispatcher adds them, under the response's own, to every response it builds; responses it does
# not build (WebSocket handshakes) need an on_response_prepare signal to get them.
RESPONSE_HEADERS = web.RequestKey("edge_response_headers", dict)

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_GRPC_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def request_id_of(headers: Mapping[str, str]) -> str:
    """The client's X-Request-ID when it is a sane token, else a fresh one."""
    given = headers.get("X-Request-ID")
    if given is not None and _REQUEST_ID.match(given):
        return given
    return f"{random.getrandbits(128):032x}"  # an id for tracing, not a secret: no system call for it


def client_timeout(headers: Mapping[str, str]) -> float | None:
    """The deadline the client asks for (Grpc-Timeout or X-Request-Timeout in seconds), if any."""
    found: list[float] = []
    grpc_timeout = headers.get("Grpc-Timeout", "")
    if 2 <= len(grpc_timeout) <= 9 and grpc_timeout[:-1].isdigit() and grpc_timeout[-1] in _GRPC_TIMEOUT_UNITS:
        found.append(int(grpc_timeout[:-1]) * _GRPC_TIMEOUT_UNITS[grpc_timeout[-1]])
    seconds = headers.get("X-Request-Timeout", "")
    if seconds:
        try:
            value = float(seconds)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value > 0:
            found.append(value)
    return min(found) if found else None


def stream_format(accept: str) -> str | None:
    """SSE or NDJSON when the client's Accept header asks for a stream."""
    if SSE in accept:
        return SSE
    if NDJSON in accept:
        return NDJSON
    return None


class Dispatcher:
    """The one generic handler: every route of every fronted service goes through it."""

    def __init__(
        self,
        router: Router,
        pool: UpstreamPool,
        settings: EdgeSettings,
        authenticate: Authenticate | None = None,
    ) -> None:
        self.router = router
        self.pool = pool
        self.settings = settings
        self.authenticate = authenticate
        codec = Codec(settings.codec_options())
        self.plans: dict[Target, MethodPlan] = {t: MethodPlan(t, codec) for t in router.targets}
        self.sockets = WebSocketBridge(pool, authenticate, camel=settings.camel_case, limits=settings.sockets)
        self._event_ids = {
            t: event_id_getter(t.info.descriptor.output_type) for t in self.plans if t.info.server_streaming
        }

    @property
    def methods(self) -> list[MethodInfo]:
        unique = {t.info.full_method: t.info for t in self.plans}
        return list(unique.values())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = request_id_of(request.headers)
        try:
            return await self._dispatch(request, request_id)
        except EdgeError as error:
            return self.error_response(error, request_id, request.get(RESPONSE_HEADERS))
        except web.HTTPException as exc:
            return self.error_response(EdgeError(exc.status, exc.reason), request_id, request.get(RESPONSE_HEADERS))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "unexpected failure serving %s %s", request.method, request.path, extra={"request_id": request_id}
            )
            failure = EdgeError(500, errors.GENERIC_INTERNAL, code="INTERNAL")
            return self.error_response(failure, request_id, request.get(RESPONSE_HEADERS))

    def error_response(
        self, error: EdgeError, request_id: str, extra: Mapping[str, str] | None = None
    ) -> web.Response:
        headers = {**(extra or {}), **error.headers, "Content-Type": "application/json", "X-Request-ID": request_id}
        return web.Response(status=error.status, body=errors.encode_error(error, request_id), headers=headers)

    async def _dispatch(self, request: web.Request, request_id: str) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        headers = request.headers
        asked_upgrade = headers.get("Upgrade")
        upgrade = asked_upgrade is not None and asked_upgrade.lower() == "websocket"
        accept = headers.get("Accept")
        wanted = stream_format(accept) if accept else None
        match = self.router.match(request.method, path, streaming=upgrade or wanted is not None)
        if match is None:
            raise self._no_route(request.method, path)
        target = match.target
        info = target.info
        if upgrade and info.server_streaming:
            return await self.sockets.serve(request, match, self.plans[target], request_id)
        plan = self.plans[target]

        metadata: list[tuple[str, str]] = [("x-request-id", request_id)]
        if self.authenticate is not None:
            metadata.extend(await self.authenticate(request, info))
        try:
            query = request.query.items() if request.query_string else ()
            if plan.body == "*" and _is_form(headers.get("Content-Type", "")):
                fields, files = await self._read_form(request)
                message = plan.build_form(match.variables, [*fields, *query], files)
            else:
                body = parse_json(await self._read_body(request)) if plan.takes_body else None
                message = plan.build(match.variables, body, query)
        except BindError as exc:
            raise errors.bad_request(exc.message, exc.violations, camel=self.settings.camel_case) from None

        asked = client_timeout(headers)
        if info.server_streaming:
            limit = self.settings.stream_timeout
            timeout = asked if limit is None else min(limit, asked or limit)
            return await self._stream(request, target, plan, message, metadata, timeout, wanted or NDJSON, request_id)
        timeout = min(self.settings.service_timeout, asked or self.settings.service_timeout)
        try:
            reply = await self.pool.unary(info.full_method)(message, timeout=timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc, service=info.unit, camel=self.settings.camel_case) from None
        rendered = plan.render(reply)
        extra = request.get(RESPONSE_HEADERS)
        if rendered.status == 204:
            answer = {"X-Request-ID": request_id}
            return web.Response(status=204, headers={**extra, **answer} if extra else answer)
        answer = {"Content-Type": rendered.content_type, "X-Request-ID": request_id}
        if rendered.headers:
            answer.update(rendered.headers)
        if extra:
            answer = {**extra, **answer}
        return web.Response(status=rendered.status, body=rendered.body, headers=answer)

    def _no_route(self, method: str, path: str) -> EdgeError:
        allowed = self.router.allowed_methods(path)
        if allowed:
            return EdgeError(
                405, f"{method} is not allowed here; use {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)}
            )
        return EdgeError(404, "no such endpoint")

    async def _read_form(self, request: web.Request) -> tuple[list[tuple[str, str]], list[tuple[str, bytes, str]]]:
        """A form body's text parts and file parts (name, data, Content-Type), within the body limit."""
        limit = self.settings.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise EdgeError(413, f"the request body is larger than {limit} bytes")
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise EdgeError(413, f"the request body is larger than {limit} bytes") from None
        except (ValueError, AssertionError) as exc:
            raise BindError.field("body", f"not a readable form: {exc}") from None
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, bytes, str]] = []
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files.append((name, value.file.read(), value.content_type or ""))
            else:
                fields.append((name, str(value)))
        return fields, files

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise EdgeError(413, f"the request body is larger than {limit} bytes")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise EdgeError(413, f"the request body is larger than {limit} bytes") from None

    async def _stream(
        self,
        request: web.Request,
        target: Target,
        plan: MethodPlan,
        message: Message,
        metadata: list[tuple[str, str]],
        deadline: float | None,
        kind: str,
        request_id: str,
    ) -> web.StreamResponse:
        info = target.info
        call = self.pool.stream(info.full_method)(message, timeout=deadline, metadata=metadata)
        replies: AsyncIterator[Any] = call.__aiter__()
        head = asyncio.ensure_future(_next_reply(replies))
        try:
            # The headers go out once the unit has answered: its first message, its end or failure
            # (then a proper HTTP status), or its initial metadata alone (a feed that is open but
            # has nothing to say yet, such as an event feed, is "connected" at once). A failure
            # comes as trailers only, whose empty initial metadata the call may report a moment
            # before its status: the short grace keeps that failure out of a 200 stream.
            await call.initial_metadata()
            if not head.done():
                await asyncio.wait((head,), timeout=_FIRST_ANSWER_GRACE)
            if head.done():
                try:
                    head.result()
                except grpc.aio.AioRpcError as exc:
                    raise errors.from_rpc_error(exc, service=info.unit, camel=self.settings.camel_case) from None
            response = web.StreamResponse(
                status=200,
                headers={
                    **request.get(RESPONSE_HEADERS, {}),
                    "Content-Type": kind,
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    "X-Request-ID": request_id,
                },
            )
            await response.prepare(request)
            frame = self._framer(target, plan, kind)
            try:
                first = await head
                if first is not _END:
                    await response.write(frame(first))
                    async for reply in replies:
                        await response.write(frame(reply))
                await response.write_eof()
            except ConnectionError:
                pass  # the client left; the finally clause stops the call
            except grpc.aio.AioRpcError as exc:
                error = errors.from_rpc_error(exc, service=info.unit, camel=self.settings.camel_case)
                await self._close_with(response, error, request_id, kind)
            except Exception:
                # headers are sent: the failure can only be told in the stream itself
                log.exception("unexpected failure streaming %s", info.full_method, extra={"request_id": request_id})
                error = EdgeError(500, errors.GENERIC_INTERNAL, code="INTERNAL")
                await self._close_with(response, error, request_id, kind)
            return response
        finally:
            call.cancel()  # a no-op once the stream ended; stops the unit when the client left
            if not head.done():
                head.cancel()
            elif not head.cancelled():
                head.exception()  # read, so an unread failure is not reported as lost

    @staticmethod
    async def _close_with(response: web.StreamResponse, error: EdgeError, request_id: str, kind: str) -> None:
        try:
            await response.write(_error_frame(error, request_id, kind))
            await response.write_eof()
        except ConnectionError:
            pass

    def _framer(self, target: Target, plan: MethodPlan, kind: str) -> Callable[[Message], bytes]:
        if kind == NDJSON:
            return lambda reply: plan.render(reply).body + b"\n"
        event_id = self._event_ids.get(target)

        def sse(reply: Message) -> bytes:
            data = b"data: " + plan.render(reply).body + b"\n\n"
            if event_id is not None:
                found = event_id(reply)
                if found and "\n" not in found and "\r" not in found:
                    return b"id: " + found.encode() + b"\n" + data
            return data

        return sse


_END: Any = object()
_FIRST_ANSWER_GRACE = 0.05  # seconds a stream may take, after its initial metadata, to fail or speak


async def _next_reply(replies: AsyncIterator[Any]) -> Any:
    try:
        return await replies.__anext__()
    except StopAsyncIteration:
        return _END


def _is_form(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return kind in ("multipart/form-data", "application/x-www-form-urlencoded")


def _error_frame(error: EdgeError, request_id: str, kind: str) -> bytes:
    body = errors.encode_error(error, request_id)
    if kind == NDJSON:
        return body + b"\n"
    return b"event: error\ndata: " + body + b"\n\n"


DISPATCHER = web.AppKey("edge_dispatcher", Dispatcher)


def build_app(
    router: Router,
    upstreams: Mapping[str, str] | UpstreamPool,
    *,
    authenticate: Authenticate | None = None,
    settings: EdgeSettings | None = None,
    middlewares: Iterable[Any] = (),
) -> web.Application:
    """The edge for the routed methods; `upstreams` maps a unit (or a service's full name, or
    `*`) to its address. Fails now, not on the first request, when a method has no upstream or
    a binding cannot be compiled."""
    edge_settings = settings or EdgeSettings()
    if isinstance(upstreams, UpstreamPool):
        pool = upstreams
    else:
        pool = UpstreamPool(upstreams, own_http2=edge_settings.own_http2)
    dispatcher = Dispatcher(router, pool, edge_settings, authenticate)
    methods = dispatcher.methods
    pool.check(methods)

    async def upstream_channels(_app: web.Application) -> AsyncIterator[None]:
        pool.open(methods)
        yield
        await pool.close()

    app = web.Application(client_max_size=edge_settings.max_body_bytes, middlewares=list(middlewares))
    app[DISPATCHER] = dispatcher
    app.cleanup_ctx.append(upstream_channels)
    app.on_shutdown.append(dispatcher.sockets.shutdown)
    app.router.add_route("*", "/{tail:.*}", dispatcher.handle)
    return app

