"""Server interceptors: caller context, metrics, and the one error mapping.

Each interceptor wraps the behaviour of the method handler that the server
found, whatever its streaming kind, so a servicer is plain business code: it
reads `authctx.current()` and raises `DomainError`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import AbortError, ServicerContext

from services.common import authctx, policy
from services.common.errors import DETAILS_KEY, DomainError, internal_status
from services.common.identity import Authenticator, authorize
from services.common.metrics import RpcMetrics
from services.common.trail import Trail, close_notes, open_notes

log = logging.getLogger("agentmesh.rpc")

Behavior = Callable[[Any, ServicerContext], Any]
# Wrap a unary-response behaviour (returns an awaitable message) ...
UnaryWrap = Callable[[Behavior, str], Behavior]
# ... or a streaming-response behaviour (returns an async iterator).
StreamWrap = Callable[[Behavior, str], Behavior]
# gRPC's own services, served without a credential.
OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def _rewrap(handler: grpc.RpcMethodHandler, method: str, unary: UnaryWrap, stream: StreamWrap) -> grpc.RpcMethodHandler:
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary, method), des, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream(handler.unary_stream, method), des, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary, method), des, ser)
    return grpc.stream_stream_rpc_method_handler(stream(handler.stream_stream, method), des, ser)


async def _iterate(result: Any) -> AsyncIterator[Any]:
    """Iterate a streaming behaviour's result, whether generator or context.write style."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif result is not None:
        await result


class _Wrapping(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Base: subclasses provide `unary` and `stream` wrappers."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _rewrap(handler, handler_call_details.method, self.unary, self.stream)

    def unary(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    def stream(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError


class CallerContextInterceptor(_Wrapping):
    """Verifies the caller's credential, applies the method's policy, binds `authctx.current()`.

    gRPC's own services (health, reflection) are open to everyone: balancers
    and operators call them without a credential. With a trail, every call of
    a method whose policy says `audit: true` is recorded with its outcome,
    refusals included (services.common.trail); other methods pay nothing more.
    """

    def __init__(self, authenticator: Authenticator, trail: Trail | None = None) -> None:
        self.authenticator = authenticator
        self.trail = trail

    def _enter(self, method: str, context: ServicerContext) -> authctx.Caller:
        caller = self.authenticator.caller(context.invocation_metadata(), context.peer())
        if not method.startswith(OPEN_PREFIXES):
            authorize(caller, policy.lookup(method))
        return caller

    def _audited(self, method: str) -> bool:
        if self.trail is None:
            return False
        info = policy.lookup(method)
        return info is not None and info.policy.audit

    def unary(self, behavior: Behavior, method: str) -> Behavior:
        if self._audited(method):
            return self._audited_unary(behavior, method)

        async def run(request: Any, context: ServicerContext) -> Any:
            try:
                caller = self._enter(method, context)
            except DomainError as exc:
                await _abort_domain(context, exc)
            token = authctx.bind(caller)
            try:
                return await behavior(request, context)
            finally:
                authctx.reset(token)

        return run

    def stream(self, behavior: Behavior, method: str) -> Behavior:
        async def run(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            try:
                caller = self._enter(method, context)
            except DomainError as exc:
                await _abort_domain(context, exc)
            token = authctx.bind(caller)
            try:
                async for item in _iterate(behavior(request, context)):
                    yield item
            finally:
                # An abandoned stream may be finalized from another context, where the token is not ours.
                with contextlib.suppress(ValueError):
                    authctx.reset(token)

        return run

    def _audited_unary(self, behavior: Behavior, method: str) -> Behavior:
        """The unary runner, recording the call in the trail once its outcome is known."""
        trail = self.trail
        assert trail is not None

        async def run(request: Any, context: ServicerContext) -> Any:
            started = time.time()
            metadata = context.invocation_metadata()
            agent = _user_agent(metadata)
            caller: authctx.Caller | None = None
            try:
                caller = self.authenticator.caller(metadata, context.peer())
                authorize(caller, policy.lookup(method))
            except DomainError as exc:
                trail.audit(method=method, caller=caller, request=request, response=None, code=exc.code.name,
                            started=started, user_agent=agent)
                await _abort_domain(context, exc)
            assert caller is not None
            token = authctx.bind(caller)
            notes, notes_token = open_notes()
            code, response = "OK", None
            try:
                response = await behavior(request, context)
                return response
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except BaseException:
                code = _code_name(context, default="UNKNOWN")
                raise
            finally:
                close_notes(notes_token)
                authctx.reset(token)
                trail.audit(method=method, caller=caller, request=request, response=response, code=code,
                            started=started, user_agent=agent, notes=notes)

        return run


class ErrorInterceptor(_Wrapping):
    """DomainError -> status with google.rpc details; anything unexpected -> INTERNAL, logged once."""

    def unary(self, behavior: Behavior, method: str) -> Behavior:
        async def run(request: Any, context: ServicerContext) -> Any:
            try:
                return await behavior(request, context)
            except (AbortError, asyncio.CancelledError):
                raise
            except DomainError as exc:
                await _abort_domain(context, exc)
            except Exception:
                await _abort_internal(context, method)

        return run

    def stream(self, behavior: Behavior, method: str) -> Behavior:
        async def run(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            try:
                async for item in _iterate(behavior(request, context)):
                    yield item
            except (AbortError, asyncio.CancelledError):
                raise
            except DomainError as exc:
                await _abort_domain(context, exc)
            except Exception:
                await _abort_internal(context, method)

        return run


async def _abort_domain(context: ServicerContext, exc: DomainError) -> None:
    status = exc.to_status()
    await context.abort(exc.code, exc.message, trailing_metadata=((DETAILS_KEY, status.SerializeToString()),))


async def _abort_internal(context: ServicerContext, method: str) -> None:
    request_id = authctx.current().request_id
    log.exception("unexpected error in %s", method, extra={"method": method})
    status = internal_status(request_id)
    await context.abort(
        grpc.StatusCode.INTERNAL, status.message, trailing_metadata=((DETAILS_KEY, status.SerializeToString()),)
    )


class MetricsInterceptor(_Wrapping):
    """Started/handled counters, latency and in-flight by service, method and code."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self.metrics = metrics

    def unary(self, behavior: Behavior, method: str) -> Behavior:
        service, name = _split(method)
        metrics = self.metrics

        async def run(request: Any, context: ServicerContext) -> Any:
            started = metrics.begin(service, name)
            code = "OK"
            try:
                return await behavior(request, context)
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except BaseException:
                code = _code_name(context, default="UNKNOWN")
                raise
            finally:
                metrics.end(service, name, code, started)

        return run

    def stream(self, behavior: Behavior, method: str) -> Behavior:
        service, name = _split(method)
        metrics = self.metrics

        async def run(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            started = metrics.begin(service, name)
            code = "OK"
            try:
                async for item in _iterate(behavior(request, context)):
                    yield item
            except (asyncio.CancelledError, GeneratorExit):
                code = "CANCELLED"
                raise
            except BaseException:
                code = _code_name(context, default="UNKNOWN")
                raise
            finally:
                metrics.end(service, name, code, started)

        return run


def _user_agent(metadata: Any) -> str:
    """The client's user agent: the one the edge forwards for its client, else the gRPC caller's own."""
    values = {key: value for key, value in metadata or () if isinstance(value, str)}
    return values.get("x-forwarded-user-agent") or values.get("user-agent", "")


def _split(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return service, name


def _code_name(context: ServicerContext, default: str) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):
        for candidate in grpc.StatusCode:
            if candidate.value[0] == code:
                return str(candidate.name)
    return default
