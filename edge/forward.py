"""Calls to the units: one channel per upstream address, one prepared callable per method.

Nothing is allocated per request: channels and the generic multicallables
(request serializer, response parser) are made once when the application
starts, inside its event loop, and closed when it stops. Discovery,
balancing across replicas and circuit breaking belong behind this class's
`channel_for` later; callers only ever ask for a method's callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from edge.routes import upstream_key
from services.common.channels import insecure_channel
from services.common.policy import MethodInfo

ChannelFactory = Callable[[str], grpc.aio.Channel]


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()



class MissingUpstream(ValueError):
    """A routed method whose unit or service has no address in the upstream map."""


class UpstreamPool:
    """The edge's connections to the units (or to any gRPC services it fronts)."""

    def __init__(self, addresses: Mapping[str, str], *, channel_factory: ChannelFactory = insecure_channel) -> None:
        self._addresses = dict(addresses)
        self._factory = channel_factory
        self._channels: dict[str, grpc.aio.Channel] = {}  # by address: units may share one
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._stream: dict[str, grpc.aio.UnaryStreamMultiCallable[Any, Any]] = {}
        self._service: dict[str, str] = {}

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
            channel = self.channel(key)
            parse = message_factory.GetMessageClass(info.descriptor.output_type).FromString
            self._service[info.full_method] = info.unit
            if info.server_streaming:
                self._stream[info.full_method] = channel.unary_stream(
                    info.full_method, request_serializer=_serialize, response_deserializer=parse
                )
            else:
                self._unary[info.full_method] = channel.unary_unary(
                    info.full_method, request_serializer=_serialize, response_deserializer=parse
                )

    def channel(self, key: str) -> grpc.aio.Channel:
        """The shared channel to an upstream (a unit name or a service); one per address."""
        address = self._addresses[key]
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._factory(address)
        return channel

    def unary(self, full_method: str) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        return self._unary[full_method]

    def stream(self, full_method: str) -> grpc.aio.UnaryStreamMultiCallable[Any, Any]:
        return self._stream[full_method]

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        self._unary.clear()
        self._stream.clear()
        for channel in channels:
            await channel.close()
