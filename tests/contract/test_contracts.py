"""The contracts serve every seed endpoint, once, and say everything the edge needs.

The seeds' endpoint lists are a fixture written from the seed documents
(tests/fixtures/seed_endpoints.json); each must reach exactly one RPC through
one HTTP rule whose path has the seed's shape.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agentmesh.v1 import common_pb2, options_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor

from edge import jsoncodec
from edge.pattern import Template, compile_template, split_path
from services.common import contracts, policy
from services.common.settings import UNITS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED_ENDPOINTS: list[dict[str, Any]] = json.loads((FIXTURES / "seed_endpoints.json").read_text())
SEED_BODIES: list[dict[str, Any]] = json.loads((FIXTURES / "seed_bodies.json").read_text())


@dataclass(frozen=True)
class Route:
    http_method: str
    template: Template
    binding: contracts.Binding
    info: policy.MethodInfo


def _routes() -> list[Route]:
    routes = []
    for info in policy.table().values():
        for binding in contracts.http_bindings(info.descriptor):
            routes.append(Route(binding.http_method, compile_template(binding.path), binding, info))
    return routes


ROUTES = _routes()


def _resolve(http_method: str, path: str, *, websocket: bool = False) -> list[Route]:
    """The most specific routes for a concrete request, as the edge will pick them."""
    parts, verb = split_path(path)
    hits = [r for r in ROUTES if r.http_method == http_method and r.template.match(parts, verb) is not None]
    if not hits:
        return []
    best = min(r.template.rank for r in hits)
    top = [r for r in hits if r.template.rank == best]
    if len(top) == 2:  # a unary and a streaming RPC may share a template
        streaming = [r for r in top if r.info.server_streaming]
        unary = [r for r in top if not r.info.server_streaming]
        if len(streaming) == 1 and len(unary) == 1:
            return streaming if websocket else unary
    return top


def _sample(path: str) -> str:
    """A concrete request path for a seed template: every {variable} becomes a value."""
    parts, verb = split_path(path)
    concrete = ["sample-1" if p.startswith("{") else p for p in parts]
    return "/" + "/".join(concrete) + (f":{verb}" if verb else "")


def test_every_unit_has_services() -> None:
    for unit in UNITS:
        assert contracts.services_of(unit), f"no service declares unit {unit!r}"


def test_every_rpc_has_an_http_rule_and_a_policy() -> None:
    missing_rule = [m for m, i in policy.table().items() if not contracts.http_bindings(i.descriptor)]
    assert missing_rule == []
    assert len(policy.table()) >= 150


def test_rate_limit_classes_are_declared() -> None:
    table = common_pb2.DESCRIPTOR.GetOptions().Extensions[options_pb2.rate_limits]
    classes = {c.name for c in table.classes}
    assert {"default", "llm", "tts", "transcribe", "chat"} <= classes
    unknown = {m: i.policy.rate_limit for m, i in policy.table().items() if i.policy.rate_limit not in classes}
    assert unknown == {}


def test_no_two_rules_collide() -> None:
    by_shape: dict[tuple[str, Any], list[Route]] = defaultdict(list)
    for route in ROUTES:
        by_shape[(route.http_method, route.template.shape)].append(route)
    conflicts = []
    for key, group in by_shape.items():
        if len(group) == 1:
            continue
        streaming = [r for r in group if r.info.server_streaming]
        if len(group) == 2 and len(streaming) == 1:
            continue
        conflicts.append((key, [r.info.full_method for r in group]))
    assert conflicts == []


def _field_path_exists(descriptor: Descriptor, path: str) -> bool:
    current = descriptor
    names = path.split(".")
    for i, name in enumerate(names):
        field = current.fields_by_name.get(name)
        if field is None:
            return False
        if i < len(names) - 1:
            if field.message_type is None:
                return False
            current = field.message_type
    return True


def test_rules_name_real_fields() -> None:
    problems = []
    for route in ROUTES:
        method = route.info.descriptor
        for var in route.template.variables:
            if not _field_path_exists(method.input_type, var.field_path):
                problems.append(f"{route.binding.path}: no field {var.field_path}")
        body = route.binding.body
        if body and body != "*" and not _field_path_exists(method.input_type, body):
            problems.append(f"{route.binding.path}: body field {body} missing")
        if route.http_method == "GET" and body:
            problems.append(f"{route.binding.path}: GET with a body")
        rb = route.binding.response_body
        if rb and not _field_path_exists(method.output_type, rb):
            problems.append(f"{route.binding.path}: response_body {rb} missing")
    assert problems == []


RPC_SEEDS = [e for e in SEED_ENDPOINTS if e["kind"] == "rpc"]


@pytest.mark.parametrize(
    "endpoint", RPC_SEEDS, ids=[f"{e['seed']} {e['method']} {e['path']}" for e in RPC_SEEDS]
)
def test_seed_endpoint_maps_to_exactly_one_rpc(endpoint: dict[str, Any]) -> None:
    websocket = bool(endpoint.get("websocket"))
    routes = _resolve(endpoint["method"], _sample(endpoint["path"]), websocket=websocket)
    assert len(routes) == 1, f"{endpoint['path']} -> {[r.info.full_method for r in routes]}"
    seed_shape = compile_template(_as_template(endpoint["path"])).shape
    assert routes[0].template.shape == seed_shape
    if websocket:
        assert routes[0].info.server_streaming, f"{endpoint['path']} is a socket but the RPC does not stream"


def _as_template(path: str) -> str:
    return path.rstrip("/") or "/"


def test_every_seed_is_covered() -> None:
    assert {e["seed"] for e in RPC_SEEDS} == {"000", "001", "002", "003", "004"}


JSON_BODIES = [b for b in SEED_BODIES if b["method"] not in ("WS",)]


@pytest.mark.parametrize("example", JSON_BODIES, ids=[f"{b['seed']} {b['path']}" for b in JSON_BODIES])
def test_seed_bodies_parse_verbatim(example: dict[str, Any]) -> None:
    routes = _resolve(example["method"], _sample(example["path"]))
    assert len(routes) == 1
    route = routes[0]
    request = message_factory.GetMessageClass(route.info.descriptor.input_type)()
    target = request if route.binding.body in ("*", "") else getattr(request, route.binding.body)
    jsoncodec.parse(example["body"], target)
    assert target.ListFields(), "the body set no field"


def test_policy_table_reads_the_options() -> None:
    login = policy.lookup("/agentmesh.v1.AuthService/Login")
    assert login is not None and login.policy.public and login.unit == "auth"
    generate = policy.lookup("/agentmesh.v1.LlmService/Generate")
    assert generate is not None and generate.policy.rate_limit == "llm" and not generate.policy.public
    assert policy.Policy(roles=frozenset({"admin"})).allows_role("superuser")
    assert not policy.Policy(roles=frozenset({"admin"})).allows_role("user")
    assert not policy.Policy(roles=frozenset({"admin"})).allows_role("service")
