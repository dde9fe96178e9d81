"""The one way this platform opens a gRPC channel to a unit.

:func:`insecure_channel` returns a :class:`UnitChannel`: a grpc.aio channel
whose unary methods go over the platform's own HTTP/2 connection
(:mod:`services.common.h2`, about a fifth of grpc.aio's CPU per call) while
streaming methods, connectivity state and everything else stay grpc.aio's.
Generated stubs take it like any channel.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc.aio import Channel

from services.common.h2 import H2Channel, UnaryMethod

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
