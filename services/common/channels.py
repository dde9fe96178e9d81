"""The one way this platform opens a gRPC channel to a unit.

:func:`insecure_channel` returns a :class:`UnitChannel`: a grpc.aio channel
whose unary methods go over the platform's own HTTP/2 connection
(:mod:`services.common.h2`, about a fifth of grpc.aio's CPU per call) while
streaming methods, connectivity state and everything else stay grpc.aio's.
Generated stubs take it like any channel.

:func:`unit_channel` is what a unit uses to call another: with Consul
configured, a :class:`BalancedChannel` that sends each call to the next of the
other unit's passing instances (as the edge does with its routed calls), else
a channel to the configured address.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc.aio import Channel

from services.common.h2 import H2Channel, UnaryMethod
from services.common.registry import follow_instances
from services.common.settings import Settings

log = logging.getLogger("agentmesh.channels")
RETIRE_AFTER = 30.0  # seconds a replica that left keeps its channel, for the calls still on it

# A unit that restarts should be reachable again within a second, not after gRPC's default
# reconnect backoff (up to two minutes), during which every call would fail at once.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Calls between units are retried by the callers that know which are safe to repeat; gRPC's own
    # retry machinery would buffer every message of every call in case it had to replay it.
    ("grpc.enable_retries", 0),
)


class UnitChannel(Channel):  # type: ignore[misc]  # grpc.aio has no type hints
    """Unary calls over an :class:`H2Channel`, the rest over a grpc.aio channel to the same address."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._grpc = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._h2 = H2Channel(address)

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    _registered_method: bool | None = False) -> Any:
        if response_deserializer is None:  # raw bytes in and out: grpc.aio's own handling
            return self._grpc.unary_unary(method, request_serializer, response_deserializer)
        return UnaryMethod(self._h2, method, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool | None = False) -> Any:
        return self._grpc.unary_stream(method, request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool | None = False) -> Any:
        return self._grpc.stream_unary(method, request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                      _registered_method: bool | None = False) -> Any:
        return self._grpc.stream_stream(method, request_serializer, response_deserializer)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._grpc.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._grpc.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._grpc.channel_ready()

    async def close(self, grace: float | None = None) -> None:
        self._h2.close()
        await self._grpc.close(grace)

    async def __aenter__(self) -> UnitChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def insecure_channel(address: str, *, own_http2: bool = True) -> Channel:
    """A channel to a unit; ``own_http2=False`` for a plain grpc.aio one."""
    if own_http2:
        return UnitChannel(address)
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class _InTurn:
    """One method of a balanced channel: each call made on the next replica's channel."""

    def __init__(self, owner: BalancedChannel, make: Callable[[Channel], Any]) -> None:
        self._owner = owner
        self._make = make
        self._calls: dict[str, Any] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        address = self._owner.next_address()
        call = self._calls.get(address)
        if call is None:
            call = self._calls[address] = self._make(self._owner.channel_at(address))
        return call(*args, **kwargs)


class BalancedChannel(Channel):  # type: ignore[misc]  # grpc.aio has no type hints
    """A unit's replicas behind one channel: each call goes to the next address in turn.

    The addresses are `replace`d as they change (Consul's passing instances); with none passing, calls
    go to the configured address, so a caller gets the unit's own answer (UNAVAILABLE) rather than none.
    """

    def __init__(self, address: str, *, factory: Callable[[str], Channel] | None = None,
                 owns_channels: bool = True) -> None:
        self.address = address
        self._factory = factory or insecure_channel
        self._owns = owns_channels  # False: the factory's owner (the edge's pool) closes them
        self._replicas: tuple[str, ...] = (address,)
        self._turn = itertools.count()
        self._channels: dict[str, Channel] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def replicas(self) -> tuple[str, ...]:
        return self._replicas

    def replace(self, addresses: Sequence[str]) -> None:
        replicas = tuple(sorted(set(addresses))) or (self.address,)
        if replicas == self._replicas:
            return
        log.info("replicas changed", extra={"address": self.address, "replicas": list(replicas)})
        self._replicas = replicas
        for gone in [a for a in self._channels if a not in replicas]:
            channel = self._channels.pop(gone)
            if self._owns:
                self._spawn(self._retire(channel))

    def follow(self, settings: Settings, unit: str) -> None:
        """Keep the replicas those of Consul's passing instances of the unit, until close()."""
        self._spawn(follow_instances(settings, unit, self.replace))

    def next_address(self) -> str:
        replicas = self._replicas
        return replicas[next(self._turn) % len(replicas)] if len(replicas) > 1 else replicas[0]

    def channel_at(self, address: str) -> Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._factory(address)
        return channel

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _retire(channel: Channel) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        await channel.close()

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    _registered_method: bool | None = False) -> Any:
        return _InTurn(self, lambda c: c.unary_unary(method, request_serializer, response_deserializer))

    def unary_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool | None = False) -> Any:
        return _InTurn(self, lambda c: c.unary_stream(method, request_serializer, response_deserializer))

    def stream_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                     _registered_method: bool | None = False) -> Any:
        return _InTurn(self, lambda c: c.stream_unary(method, request_serializer, response_deserializer))

    def stream_stream(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                      _registered_method: bool | None = False) -> Any:
        return _InTurn(self, lambda c: c.stream_stream(method, request_serializer, response_deserializer))

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.channel_at(self._replicas[0]).get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self.channel_at(self._replicas[0]).wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self.channel_at(self._replicas[0]).channel_ready()

    async def close(self, grace: float | None = None) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels if self._owns else ():
            await channel.close(grace)

    async def __aenter__(self) -> BalancedChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def unit_channel(settings: Settings, unit: str) -> Channel:
    """The channel a unit calls another unit over: balanced over its passing instances when Consul is
    configured (must be made inside the running event loop then), else to its configured address."""
    if not settings.consul_http_addr:
        return insecure_channel(settings.address(unit))
    channel = BalancedChannel(settings.address(unit))
    channel.follow(settings, unit)
    return channel
