"""The one way this platform opens a gRPC channel to a unit."""

from __future__ import annotations

import grpc

# A unit that restarts should be reachable again within a second, not after gRPC's default
# reconnect backoff (up to two minutes), during which every call would fail at once.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def insecure_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
