"""The platform's contracts, loaded once from the generated descriptors.

Importing the generated modules registers every file in the default descriptor
pool; from there the policy table, the edge's routes and the API documents are
all derived. Nothing here names a method: it walks what protoc produced.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from agentmesh.v1 import options_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor

from services.common.settings import UNITS

PACKAGE = "agentmesh.v1"
# Extension handles, typed loosely: the generated stubs describe them as plain fields.
_UNIT_OPTION: Any = options_pb2.unit


@cache
def unit_modules() -> tuple[ModuleType, ...]:
    """The generated message modules of the seven units, in UNITS order."""
    return tuple(importlib.import_module(f"agentmesh.v1.{unit}_pb2") for unit in UNITS)


def files() -> tuple[FileDescriptor, ...]:
    return tuple(module.DESCRIPTOR for module in unit_modules())


def services() -> Iterator[ServiceDescriptor]:
    for file in files():
        yield from file.services_by_name.values()


def unit_of(service: ServiceDescriptor) -> str:
    """The unit a service declares with `option (agentmesh.v1.unit)`."""
    unit: str = service.GetOptions().Extensions[_UNIT_OPTION]
    if unit not in UNITS:
        raise ValueError(f"{service.full_name}: option (agentmesh.v1.unit) = {unit!r} is not a unit")
    return unit


def services_of(unit: str) -> tuple[ServiceDescriptor, ...]:
    return tuple(s for s in services() if unit_of(s) == unit)


def methods() -> Iterator[MethodDescriptor]:
    for service in services():
        yield from service.methods


def full_method(method: MethodDescriptor) -> str:
    """The gRPC path of a method, as interceptors and channels see it."""
    return f"/{method.containing_service.full_name}/{method.name}"


@dataclass(frozen=True, slots=True)
class Binding:
    """One HTTP rule of a method (the main rule or one of its additional bindings)."""

    http_method: str
    path: str
    body: str
    response_body: str


def http_bindings(method: MethodDescriptor) -> tuple[Binding, ...]:
    """The method's `google.api.http` rule followed by its additional bindings."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return ()
    rule = options.Extensions[annotations_pb2.http]
    return tuple(_binding(r) for r in (rule, *rule.additional_bindings))


def _binding(rule: http_pb2.HttpRule) -> Binding:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        return Binding(rule.custom.kind.upper(), rule.custom.path, rule.body, rule.response_body)
    if kind is None:
        raise ValueError("an http rule without a pattern")
    return Binding(kind.upper(), getattr(rule, kind), rule.body, rule.response_body)


# Unit-to-unit methods are bound under this prefix (protos/README.md); the edge does not serve them.
INTERNAL_PREFIX = "/internal/"


def is_internal(method: MethodDescriptor) -> bool:
    """Every HTTP rule of the method is an internal one."""
    bindings = http_bindings(method)
    return bool(bindings) and all(b.path.startswith(INTERNAL_PREFIX) for b in bindings)


_EVENTS_OPTION: Any = options_pb2.events


@cache
def event_prefixes() -> dict[str, tuple[str, ...]]:
    """{unit: the event type prefixes its services declare with `option (agentmesh.v1.events)`}."""
    found: dict[str, list[str]] = {}
    for service in services():
        declared = service.GetOptions().Extensions[_EVENTS_OPTION].prefixes
        found.setdefault(unit_of(service), []).extend(p for p in declared if p not in found.get(unit_of(service), []))
    return {unit: tuple(prefixes) for unit, prefixes in found.items()}
