"""What the transcoding edge can be told, fixed when the application is built.

The process's environment is read once, by services.common.settings; this is
the edge's slice of it plus the transcoding switches, passed explicitly to
:func:`edge.app.build_app`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from edge.jsoncodec import CodecOptions
from edge.ws import SocketLimits
from services.common.settings import Settings

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """The edge's behaviour; the defaults are the platform's."""

    # Deadline of every unary call (SERVICE_TIMEOUT); a client may ask for less, never more.
    service_timeout: float = 30.0
    # Deadline of server-streaming calls when the client sets none; None lets feeds run until closed.
    stream_timeout: float | None = None
    # Larger request bodies are refused with 413 before they are read.
    max_body_bytes: int = 10 * MIB
    # Output names: proto names (snake_case, what the seeds' clients read) unless set.
    camel_case: bool = False
    # Unknown JSON fields and query parameters are errors naming them unless set.
    ignore_unknown: bool = False
    # Fields without presence are written at their defaults, so clients see stable keys.
    emit_unpopulated: bool = True
    # Unary calls over the edge's own HTTP/2 client (services.common.h2); False sends them through grpc.aio.
    own_http2: bool = True
    # WebSocket frame size, sockets per user, subscriptions and send queue per socket.
    sockets: SocketLimits = field(default_factory=SocketLimits)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EdgeSettings:
        sockets = SocketLimits(max_sockets_per_user=settings.ws_max_sockets_per_user)
        return replace(cls(service_timeout=settings.service_timeout, sockets=sockets), **overrides)

    def codec_options(self) -> CodecOptions:
        return CodecOptions(
            camel_case=self.camel_case,
            emit_unpopulated=self.emit_unpopulated,
            ignore_unknown=self.ignore_unknown,
        )
