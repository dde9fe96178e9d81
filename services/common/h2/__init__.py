"""The platform's own gRPC client for unary calls: cleartext HTTP/2 inside the event loop.

grpc.aio hands every call to grpc-core's threads and back; for a unary call
that hand-off costs about five times the HTTP/2 work. The edge sends its unary
calls this way, and so do the units to one another
(:class:`services.common.channels.UnitChannel`); server-streaming calls stay
on grpc.aio.
"""

from services.common.h2.channel import H2Channel, UnaryMethod

__all__ = ["H2Channel", "UnaryMethod"]
