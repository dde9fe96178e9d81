"""The edge's routing table, compiled once at start-up from method descriptors.

Any set of gRPC methods can be routed, not only AgentMesh's: :func:`methods_of`
turns services from any descriptor pool (for instance one loaded from a
FileDescriptorSet with :func:`load_descriptor_set`) into the
:class:`~services.common.policy.MethodInfo` records the edge works with, and
:class:`Router` indexes their ``google.api.http`` bindings.

Matching never scans a list of regular expressions. The templates of each
HTTP method form a tree of segments; a request path walks it depth first,
trying the literal child before the ``*`` child before a ``**`` tail, so the
first template reached is the most specific one (a literal beats a variable
at the leftmost segment where they differ, ``*`` beats ``**``, and a template
that ends where the path ends beats a ``**`` tail matching nothing). Cost
grows with the path's depth, not with the number of routes.

Two bindings with the same HTTP method and the same path shape are a
conflict and the router refuses to build, naming both RPCs, with one
exception: a unary and a server-streaming RPC may share a template; the
stream is served to WebSocket upgrades and to clients that ask for
``text/event-stream`` or ``application/x-ndjson``, the unary call to the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote

from agentmesh.v1 import options_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from edge.pattern import DOUBLE_STAR, Template, TemplateError, compile_template, split_path
from services.common import contracts
from services.common.policy import MethodInfo, Policy, decode

log = logging.getLogger("agentmesh.edge")

# Extension handles, typed loosely: the generated stubs describe them as plain fields.
_UNIT_OPTION: Any = options_pb2.unit
_POLICY_OPTION: Any = options_pb2.policy


class RouteError(ValueError):
    """The bindings cannot be served: a conflict, a bad template, an unsupported method."""


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """One RPC as reached through one of its HTTP bindings (hashed by identity)."""

    info: MethodInfo
    binding: contracts.Binding
    template: Template

    @property
    def name(self) -> str:
        return f"{self.info.full_method} ({self.binding.http_method} {self.binding.path})"


@dataclass(slots=True, eq=False)
class Route:
    """A method and path shape, served by a unary RPC, a server-streaming RPC, or one of each."""

    http_method: str
    unary: Target | None = None
    stream: Target | None = None

    @property
    def template(self) -> Template:
        first = self.unary or self.stream
        assert first is not None
        return first.template

    def pick(self, streaming: bool) -> Target:
        """The streaming RPC for stream-minded clients when there is one, else the unary one."""
        if streaming and self.stream is not None:
            return self.stream
        chosen = self.unary or self.stream
        assert chosen is not None
        return chosen


class Match(NamedTuple):
    """A request's route, the RPC picked on it, and the path variables of that RPC's template."""

    route: Route
    target: Target
    variables: dict[str, str]


def capture(template: Template, parts: list[str]) -> dict[str, str]:
    """The template's variables from a path the router already matched against it (URL-decoded;
    a multi-segment capture keeps its slashes and escapes the decoded ones)."""
    captured: dict[str, str] = {}
    for var in template.variables:
        if var.end is not None and var.end - var.start == 1:
            captured[var.field_path] = unquote(parts[var.start])
        else:
            chunk = parts[var.start : var.end] if var.end is not None else parts[var.start :]
            captured[var.field_path] = "/".join(unquote(p).replace("/", "%2F") for p in chunk)
    return captured


class _Node:
    """One segment position of the templates of one HTTP method."""

    __slots__ = ("deep", "ends", "literals", "star")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.star: _Node | None = None
        self.deep: dict[str, Route] = {}  # by verb: templates whose remaining segment is **
        self.ends: dict[str, Route] = {}  # by verb: templates that end here

    def insert(self, route: Route) -> None:
        template = route.template
        node = self
        for segment, literal in zip(template.segments, template.literal, strict=True):
            if literal:
                node = node.literals.setdefault(segment, _Node())
            elif segment == DOUBLE_STAR:
                node.deep[template.verb] = route
                return
            else:
                node.star = node.star or _Node()
                node = node.star
        node.ends[template.verb] = route

    def find(self, parts: list[str], index: int, verb: str) -> Route | None:
        """Depth first, literal before `*` before `**`: the first hit is the most specific."""
        if index == len(parts):
            return self.ends.get(verb) or self.deep.get(verb)
        segment = parts[index]
        child = self.literals.get(segment)
        if child is not None:
            found = child.find(parts, index + 1, verb)
            if found is not None:
                return found
        if self.star is not None and segment:
            found = self.star.find(parts, index + 1, verb)
            if found is not None:
                return found
        return self.deep.get(verb)


class Router:
    """Bindings indexed for matching; build once, share across requests."""

    def __init__(self, targets: Iterable[Target]) -> None:
        by_shape: dict[tuple[str, object], Route] = {}
        for target in targets:
            key = (target.binding.http_method, target.template.shape)
            route = by_shape.get(key)
            if route is None:
                route = Route(target.binding.http_method)
                by_shape[key] = route
            _place(route, target)
        self.routes: tuple[Route, ...] = tuple(by_shape.values())
        self._trees: dict[str, _Node] = {}
        for route in self.routes:
            self._trees.setdefault(route.http_method, _Node()).insert(route)
        self.methods: tuple[str, ...] = tuple(sorted(self._trees))

    @property
    def targets(self) -> Iterator[Target]:
        for route in self.routes:
            if route.unary is not None:
                yield route.unary
            if route.stream is not None:
                yield route.stream

    def match(self, http_method: str, path: str, *, streaming: bool = False) -> Match | None:
        """The most specific route for a request path (without its query string), or None;
        `streaming` picks the server-streaming RPC where a route has both kinds."""
        tree = self._trees.get(http_method)
        if tree is None:
            return None
        try:
            parts, verb = split_path(path)
        except TemplateError:
            return None
        route = tree.find(parts, 0, verb)
        if route is None and verb:
            # "/v1/echo/a:b" may be the variable "a:b" rather than the verb "b"
            parts, verb = [*parts[:-1], f"{parts[-1]}:{verb}"], ""
            route = tree.find(parts, 0, verb)
        if route is None:
            return None
        target = route.pick(streaming)
        return Match(route, target, capture(target.template, parts))

    def allowed_methods(self, path: str) -> list[str]:
        """The HTTP methods under which the path exists (for 405 and its Allow header)."""
        return [m for m in self.methods if self.match(m, path) is not None]


def _place(route: Route, target: Target) -> None:
    streaming = target.info.server_streaming
    existing = route.stream if streaming else route.unary
    other = route.unary or route.stream
    if existing is not None or (other is not None and other.info.full_method == target.info.full_method):
        clash = existing or other
        assert clash is not None
        raise RouteError(
            f"conflicting HTTP bindings: {clash.name} and {target.name} have the same method and path shape; "
            "only a unary and a server-streaming RPC may share a template"
        )
    if streaming:
        route.stream = target
    else:
        route.unary = target


def targets_of(methods: Iterable[MethodInfo]) -> list[Target]:
    """Every HTTP binding of the methods, templates compiled; client-streaming RPCs are skipped."""
    targets: list[Target] = []
    for info in methods:
        bindings = contracts.http_bindings(info.descriptor)
        if not bindings:
            continue
        if info.client_streaming:
            log.warning("not routed: %s streams from the client, which HTTP/JSON cannot carry", info.full_method)
            continue
        for binding in bindings:
            try:
                template = compile_template(binding.path)
            except TemplateError as exc:
                raise RouteError(f"{info.full_method}: {exc}") from None
            targets.append(Target(info, binding, template))
    return targets


def build_router(methods: Iterable[MethodInfo]) -> Router:
    return Router(targets_of(methods))


def methods_of(services: Iterable[ServiceDescriptor]) -> list[MethodInfo]:
    """MethodInfo for any services: the unit is the service's `(agentmesh.v1.unit)` option when
    it has one, else the service's full name; the policy is the method's option, else the default."""
    infos: list[MethodInfo] = []
    for service in services:
        options = service.GetOptions()
        unit = options.Extensions[_UNIT_OPTION] if options.HasExtension(_UNIT_OPTION) else ""
        for method in service.methods:
            has_policy = method.GetOptions().HasExtension(_POLICY_OPTION)
            infos.append(
                MethodInfo(
                    contracts.full_method(method),
                    unit or service.full_name,
                    method,
                    decode(method) if has_policy else Policy(),
                )
            )
    return infos


def load_descriptor_set(
    data: bytes, pool: descriptor_pool.DescriptorPool | None = None
) -> tuple[ServiceDescriptor, ...]:
    """The services of a serialized FileDescriptorSet (protoc --include_imports), in a pool of
    their own unless one is given; files the pool already holds are not added twice."""
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    target = pool if pool is not None else descriptor_pool.DescriptorPool()
    for proto in files:
        try:
            target.FindFileByName(proto.name)
        except KeyError:
            target.Add(proto)
    services: list[ServiceDescriptor] = []
    for proto in files:
        file = target.FindFileByName(proto.name)
        services.extend(file.services_by_name.values())
    return tuple(services)


def upstream_key(info: MethodInfo, upstreams: Container[str]) -> str | None:
    """Which entry of an upstream map serves a method: its unit, its service, or `*`."""
    service = info.descriptor.containing_service.full_name
    for key in (info.unit, service, "*"):
        if key in upstreams:
            return key
    return None
