"""gRPC method handlers built from the descriptors.

A unit hands over servicer objects; every method of every service the unit
serves gets a handler. A method the servicer does not define answers
UNIMPLEMENTED naming the unit and the method, so the contract is always served
in full and nothing unbuilt pretends to work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from services.common import contracts
from services.common.errors import Unimplemented


def _unimplemented(unit: str, method: MethodDescriptor) -> Callable[..., Any]:
    text = f"{unit} unit: {contracts.full_method(method)} is not implemented yet"
    if method.server_streaming:

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            raise Unimplemented(text)
            yield  # pragma: no cover - makes this an async generator

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise Unimplemented(text)

    return unary


def _method_handler(behavior: Callable[..., Any], method: MethodDescriptor) -> grpc.RpcMethodHandler:
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    des, ser = request_cls.FromString, response_cls.SerializeToString
    if method.client_streaming and method.server_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior, des, ser)
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior, des, ser)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior, des, ser)
    return grpc.unary_unary_rpc_method_handler(behavior, des, ser)


def implemented(service: ServiceDescriptor, servicer: object | None) -> set[str]:
    """Names of the service's methods that the servicer defines."""
    if servicer is None:
        return set()
    return {m.name for m in service.methods if callable(getattr(servicer, m.name, None))}


def generic_handlers(unit: str, servicers: Mapping[str, object]) -> list[grpc.GenericRpcHandler]:
    """One generic handler per service of the unit; servicers keyed by service full name."""
    services = contracts.services_of(unit)
    known = {s.full_name for s in services}
    stray = set(servicers) - known
    if stray:
        raise ValueError(f"{unit} unit has servicers for services it does not serve: {sorted(stray)}")
    result = []
    for service in services:
        servicer = servicers.get(service.full_name)
        names = implemented(service, servicer)
        table = {
            m.name: _method_handler(
                getattr(servicer, m.name) if m.name in names else _unimplemented(unit, m), m
            )
            for m in service.methods
        }
        result.append(grpc.method_handlers_generic_handler(service.full_name, table))
    return result
