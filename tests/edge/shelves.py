"""A gRPC service that is not AgentMesh's, for fronting by the edge in tests.

tests/edge/protos/edgetest/v1/shelf.proto is compiled here with grpcio-tools
into a FileDescriptorSet, loaded into a descriptor pool of its own (as a user
of the edge would load theirs) and served by a plain grpc.aio server whose
handlers are built from the same descriptors: no generated code, no AgentMesh
options.
"""

from __future__ import annotations

import asyncio
import sysconfig
import tempfile
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from edge.routes import load_descriptor_set
from services.common.errors import DETAILS_KEY

PROTO_ROOT = Path(__file__).resolve().parent / "protos"
SERVICE = "edgetest.v1.Shelves"


@cache
def descriptor_set() -> bytes:
    """shelf.proto and its imports, as `protoc --include_imports --descriptor_set_out` writes them."""
    from grpc_tools import protoc

    site = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "shelf.pb"
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"-I{site}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            "edgetest/v1/shelf.proto",
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc could not compile shelf.proto")
        return out.read_bytes()


@cache
def services() -> tuple[ServiceDescriptor, ...]:
    return load_descriptor_set(descriptor_set())


def service() -> ServiceDescriptor:
    return next(s for s in services() if s.full_name == SERVICE)


def descriptor(name: str) -> Descriptor:
    found: Descriptor = service().file.pool.FindMessageTypeByName(f"edgetest.v1.{name}")
    return found


def message(name: str, **fields: Any) -> Any:
    """A new message of edgetest.v1.<name>."""
    return message_factory.GetMessageClass(descriptor(name))(**fields)


def method(name: str) -> MethodDescriptor:
    found: MethodDescriptor = service().methods_by_name[name]
    return found


def abort_details(code: grpc.StatusCode, text: str, *details: Message) -> tuple[tuple[str, bytes], ...]:
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    status = status_pb2.Status(code=code.value[0], message=text, details=packed)
    return ((DETAILS_KEY, status.SerializeToString()),)


class Shelves:
    """Behaviour enough to see every kind of reply through the edge."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any, dict[str, str]]] = []
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    def _record(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        self.requests.append((name, request, metadata))

    async def CreateItem(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("CreateItem", request, context)
        item = message("Item")
        item.CopyFrom(request.item)
        item.item_id = "i-1"
        item.shelf_id = request.shelf_id
        item.owner_id = "owner-1"
        item.created_at.FromSeconds(1_700_000_000)
        return item

    async def GetItem(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("GetItem", request, context)
        if request.item_id == "missing":
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                "item missing not found",
                trailing_metadata=abort_details(
                    grpc.StatusCode.NOT_FOUND,
                    "item missing not found",
                    error_details_pb2.ResourceInfo(resource_type="item", resource_name="missing"),
                ),
            )
        if request.item_id == "bad":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "item_id: not a valid id",
                trailing_metadata=abort_details(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "item_id: not a valid id",
                    error_details_pb2.BadRequest(
                        field_violations=[
                            error_details_pb2.BadRequest.FieldViolation(field="item_id", description="not a valid id")
                        ]
                    ),
                    error_details_pb2.DebugInfo(detail="stack trace that must not leak"),
                ),
            )
        if request.item_id == "crash":
            raise RuntimeError("secret-internal-detail")
        if request.item_id == "busy":
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "slow down",
                trailing_metadata=abort_details(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "slow down",
                    error_details_pb2.RetryInfo(retry_delay={"seconds": 7}),
                ),
            )
        if request.item_id == "slow":
            await asyncio.sleep(5)
        item = message("Item", item_id=request.item_id, shelf_id=request.shelf_id, title="A title", count=2**40)
        item.created_at.FromSeconds(1_700_000_000)
        return item

    async def ListItems(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("ListItems", request, context)
        items = [
            message("Item", item_id=f"i{n}", shelf_id=request.shelf_id, title=tag) for n, tag in enumerate(request.tag)
        ]
        return message("ListItemsResponse", items=items, total_size=len(items))

    async def SearchItems(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.ListItems(request, context)

    async def UpdateItem(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("UpdateItem", request, context)
        return request.item

    async def DeleteItem(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("DeleteItem", request, context)
        return message_factory.GetMessageClass(method("DeleteItem").output_type)()

    async def WatchItems(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        self._record("WatchItems", request, context)
        if request.shelf_id == "gone":
            await context.abort(grpc.StatusCode.NOT_FOUND, "shelf gone not found")
        for n in range(request.count):
            yield message("ItemEvent", id=f"e{n + 1}", type="item.created", item=message("Item", item_id=f"i{n}"))
        if request.shelf_id == "broken":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "feed interrupted")
        if request.shelf_id == "endless":
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise

    async def WatchEvents(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for event in self.WatchItems(request, context):
            yield event

    async def ListEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("ListEvents", request, context)
        return message("ListItemsResponse", next_page_token="unary")

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("Export", request, context)
        reply = message("ExportResponse")
        reply.report.content_type = "text/csv"
        reply.report.data = b"id,title\ni1,A\n"
        return reply

    async def Download(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return message_factory.GetMessageClass(method("Download").output_type)(data=b"\x00\x01raw")

    async def Echo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._record("Echo", request, context)
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        remaining = context.time_remaining()
        return message(
            "EchoResponse",
            text=request.text,
            metadata=metadata,
            deadline_seconds=remaining if remaining is not None else -1.0,
            address=request.address,
            path=request.path,
        )


def _handler(method: MethodDescriptor, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    if method.server_streaming:
        return grpc.unary_stream_rpc_method_handler(
            behavior, request_cls.FromString, response_cls.SerializeToString
        )
    return grpc.unary_unary_rpc_method_handler(behavior, request_cls.FromString, response_cls.SerializeToString)


async def serve(servicer: Shelves) -> tuple[grpc.aio.Server, int]:
    """Start a server for edgetest.v1.Shelves on a free port."""
    server = grpc.aio.server()
    handlers = {m.name: _handler(m, getattr(servicer, m.name)) for m in service().methods if not m.client_streaming}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
