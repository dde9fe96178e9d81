"""Calls to the units: one connection per upstream address, one prepared callable per method.

Nothing is allocated per request beyond the call itself: connections and the
per-method callables are made once when the application starts, inside its
event loop, and closed when it stops. Each address has one
:class:`~services.common.channels.UnitChannel`: unary calls, the routed ones and
those of stubs other parts of the edge build on :meth:`UpstreamPool.channel`,
go over the platform's own HTTP/2 connection (:mod:`services.common.h2`: about a
fifth of grpc.aio's CPU per call, since nothing crosses threads); server-streaming
calls over grpc.aio. A unit may have several replicas (:meth:`UpstreamPool.replace`,
fed by Consul): a method's callable then takes them in turn, one call each; with one
replica it is that replica's callable itself, so nothing is added to the call.
Callers only ever ask for a method's callable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from edge.routes import upstream_key
from services.common.channels import BalancedChannel, insecure_channel
from services.common.policy import MethodInfo

ChannelFactory = Callable[[str], grpc.aio.Channel]
Metadata = Sequence[tuple[str, str | bytes]]


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


class MissingUpstream(ValueError):
    """A routed method whose unit or service has no address in the upstream map."""


Unary = Callable[..., Any]
log = logging.getLogger("agentmesh.edge")
# Channels of replicas that left are closed this long after, so that calls in flight on them finish.
RETIRE_AFTER = 30.0


class _InTurn:
    """A method's callables on several replicas, taken in turn."""

    __slots__ = ("_calls", "_next")

    def __init__(self, calls: Sequence[Any]) -> None:
        self._calls = tuple(calls)
        self._next = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        turn = self._next
        self._next = (turn + 1) % len(self._calls)
        return self._calls[turn](*args, **kwargs)


class _NoReplica:
    """A method whose unit has no healthy replica now: UNAVAILABLE at once (the edge answers 503)."""

    def __init__(self, unit: str) -> None:
        self._unit = unit

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                   details=f"no healthy instance of {self._unit}")


class UpstreamPool:
    """The edge's connections to the units (or to any gRPC services it fronts): one channel per address.

    ``own_http2`` (the default) opens :class:`~services.common.channels.UnitChannel`s, whose unary
    calls go over the platform's own HTTP/2 client; when False, plain grpc.aio channels.
    """

    def __init__(
        self,
        addresses: Mapping[str, str],
        *,
        channel_factory: ChannelFactory | None = None,
        own_http2: bool = True,
    ) -> None:
        self._addresses = dict(addresses)
        self._replicas: dict[str, tuple[str, ...]] = {k: (a,) for k, a in self._addresses.items()}
        self._factory = channel_factory or functools.partial(insecure_channel, own_http2=own_http2)
        self._channels: dict[str, grpc.aio.Channel] = {}  # by address: units may share one
        self._methods: list[tuple[MethodInfo, str]] = []
        self._unary: dict[str, Unary] = {}
        self._stream: dict[str, Any] = {}
        self._retiring: dict[asyncio.Task[None], grpc.aio.Channel] = {}
        self._balanced: dict[str, BalancedChannel] = {}

    def check(self, methods: Iterable[MethodInfo]) -> None:
        """Refuse to start when a routed method has nowhere to go."""
        missing = sorted({m.unit for m in methods if upstream_key(m, self._addresses) is None})
        if missing:
            raise MissingUpstream(f"no upstream address for {', '.join(missing)}")

    def open(self, methods: Iterable[MethodInfo]) -> None:
        """Create the channels and the callables; call from inside the running event loop."""
        for info in methods:
            key = upstream_key(info, self._addresses)
            if key is None:
                raise MissingUpstream(f"no upstream address for {info.unit} ({info.full_method})")
            self._methods.append((info, key))
            self._prepare(info, key)

    def _prepare(self, info: MethodInfo, key: str) -> None:
        parse = message_factory.GetMessageClass(info.descriptor.output_type).FromString
        replicas = self._replicas[key]
        if info.server_streaming:
            calls = [self._channel_at(a).unary_stream(info.full_method, request_serializer=_serialize,
                                                      response_deserializer=parse) for a in replicas]
            table: dict[str, Any] = self._stream
        else:  # over the channel's own HTTP/2 connection when it is a UnitChannel
            calls = [self._channel_at(a).unary_unary(info.full_method, request_serializer=_serialize,
                                                     response_deserializer=parse) for a in replicas]
            table = self._unary
        table[info.full_method] = calls[0] if len(calls) == 1 else _InTurn(calls) if calls else _NoReplica(info.unit)

    def replace(self, key: str, addresses: Sequence[str]) -> None:
        """The upstream's replicas are now these (Consul's passing instances); calls go to them from now on."""
        replicas = tuple(sorted(set(addresses)))
        if replicas == self._replicas.get(key):
            return
        log.info("upstream replicas changed", extra={"upstream": key, "replicas": list(replicas)})
        self._replicas[key] = replicas
        if key in self._balanced:
            self._balanced[key].replace(replicas)
        for info, method_key in self._methods:
            if method_key == key:
                self._prepare(info, key)
        used = {a for found in self._replicas.values() for a in found} | set(self._addresses.values())
        for address in [a for a in self._channels if a not in used]:
            channel = self._channels.pop(address)
            retired = asyncio.get_running_loop().create_task(self._retire(channel))
            self._retiring[retired] = channel
            retired.add_done_callback(lambda task: self._retiring.pop(task, None))

    @staticmethod
    async def _retire(channel: grpc.aio.Channel) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        await channel.close()

    def replicas(self, key: str) -> tuple[str, ...]:
        return self._replicas[key]

    def _channel_at(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._factory(address)
        return channel

    def channel(self, key: str) -> grpc.aio.Channel:
        """A channel to an upstream (a unit name or a service) for the edge's own calls (API keys, maintenance,
        health): each call to the next of its replicas, over the pool's channels; the configured address
        while none is known."""
        balanced = self._balanced.get(key)
        if balanced is None:
            balanced = self._balanced[key] = BalancedChannel(self._addresses[key], factory=self._channel_at,
                                                             owns_channels=False)
            balanced.replace(self._replicas[key])
        return balanced

    def unary(self, full_method: str) -> Unary:
        """The method's callable: `await pool.unary(m)(request, timeout=..., metadata=...)`."""
        return self._unary[full_method]

    def stream(self, full_method: str) -> grpc.aio.UnaryStreamMultiCallable[Any, Any]:
        return self._stream[full_method]

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        self._unary.clear()
        self._stream.clear()
        self._methods.clear()
        for task, channel in list(self._retiring.items()):
            task.cancel()
            channels.append(channel)
        self._retiring.clear()
        for channel in channels:
            await channel.close()
