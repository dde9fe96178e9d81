"""Every RPC the auth unit serves is built: none answers UNIMPLEMENTED."""

from __future__ import annotations

import grpc
from agentmesh.v1 import auth_pb2, auth_pb2_grpc
from google.protobuf import message_factory

from services.common import contracts
from tests.auth.conftest import ADMIN_KEY, bearer


async def test_no_auth_rpc_is_unimplemented(auth_channel: grpc.aio.Channel) -> None:
    admin = await grpc_admin_token(auth_channel)
    unimplemented = []
    for service in contracts.services_of("auth"):
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)()
            response = message_factory.GetMessageClass(method.output_type)
            path = contracts.full_method(method)
            try:
                if method.server_streaming:
                    call = auth_channel.unary_stream(
                        path, request_serializer=type(request).SerializeToString,
                        response_deserializer=response.FromString,
                    )(request, metadata=bearer(admin), timeout=2)
                    await call.read()
                    call.cancel()
                else:
                    await auth_channel.unary_unary(
                        path, request_serializer=type(request).SerializeToString,
                        response_deserializer=response.FromString,
                    )(request, metadata=bearer(admin), timeout=5)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                    unimplemented.append(path)
    assert unimplemented == []


async def grpc_admin_token(channel: grpc.aio.Channel) -> str:
    """WatchRevocations needs the service role: it answers PERMISSION_DENIED here, which still is not
    UNIMPLEMENTED; the revocation tests exercise it for real."""
    reply = await auth_pb2_grpc.AuthServiceStub(channel).AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
    return reply.access_token
