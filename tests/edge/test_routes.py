"""The router: matching by specificity, 405 versus 404, conflicts refused at build time."""

from __future__ import annotations

import dataclasses

import pytest

from edge.pattern import compile_template
from edge.routes import RouteError, Router, Target, build_router, load_descriptor_set, methods_of, targets_of
from services.common import contracts, policy
from tests.edge import shelves

SHELVES = "/edgetest.v1.Shelves/"

MATCHES = [
    ("GET", "/v1/shelves/s1/items/i1", "GetItem", {"shelf_id": "s1", "item_id": "i1"}),
    ("GET", "/v1/shelves/s1/items/watch", "WatchItems", {"shelf_id": "s1"}),  # literal beats {item_id}
    ("GET", "/v1/items/i9", "GetItem", {"item_id": "i9"}),
    ("GET", "/v1/shelves/s1/items", "ListItems", {"shelf_id": "s1"}),
    ("GET", "/v1/shelves/s1/items/", "ListItems", {"shelf_id": "s1"}),  # trailing slash
    ("GET", "/v1/shelves/s1/items:search", "SearchItems", {"shelf_id": "s1"}),
    ("PATCH", "/v1/shelves/s1/items/i1", "UpdateItem", {"item.shelf_id": "s1", "item.item_id": "i1"}),
    ("PUT", "/v1/shelves/s1/items/i1", "UpdateItem", {"item.shelf_id": "s1", "item.item_id": "i1"}),
    ("DELETE", "/v1/shelves/s1/items/i1", "DeleteItem", {"name": "shelves/s1/items/i1"}),
    ("GET", "/v1/files/a/b/c.txt", "Echo", {"path": "a/b/c.txt"}),
    ("GET", "/v1/files", "Echo", {"path": ""}),  # ** matches zero segments too
    ("GET", "/v1/echo/a%2Fb", "Echo", {"text": "a/b"}),
    ("GET", "/v1/echo/a:b", "Echo", {"text": "a:b"}),  # not a verb of any route: part of the variable
    ("POST", "/v1/echo/hey:shout", "Echo", {"text": "hey"}),
    ("POST", "/v1/echo", "Echo", {}),
    ("GET", "/v1/shelves/s1/events", "ListEvents", {"shelf_id": "s1"}),
]

MISSES = [
    ("GET", "/v1/shelves"),
    ("GET", "/v1/shelves/s1/items/i1/extra"),
    ("POST", "/v1/items/i1"),
    ("GET", "/v1/shelves//items"),
    ("GET", "/v1/shelves/s1/items:unknown"),
    ("GET", "relative/path"),
    ("POST", "/v1/upload"),  # client streaming: not routable over HTTP/JSON
]


@pytest.mark.parametrize(("http_method", "path", "rpc", "variables"), MATCHES)
def test_matches(shelves_router: Router, http_method: str, path: str, rpc: str, variables: dict[str, str]) -> None:
    found = shelves_router.match(http_method, path)
    assert found is not None
    assert found.target.info.full_method == SHELVES + rpc
    assert found.variables == variables


@pytest.mark.parametrize(("http_method", "path"), MISSES)
def test_misses(shelves_router: Router, http_method: str, path: str) -> None:
    assert shelves_router.match(http_method, path) is None


ALLOWED = [
    ("/v1/shelves/s1/items", ["GET", "POST"]),
    ("/v1/shelves/s1/items/i1", ["DELETE", "GET", "PATCH", "PUT"]),
    ("/v1/echo", ["POST"]),
    ("/v1/nothing", []),
]


@pytest.mark.parametrize(("path", "methods"), ALLOWED)
def test_allowed_methods_tell_405_from_404(shelves_router: Router, path: str, methods: list[str]) -> None:
    assert shelves_router.allowed_methods(path) == methods


def _target(rpc: str, http_method: str, path: str) -> Target:
    info = next(m for m in methods_of([shelves.service()]) if m.full_method == SHELVES + rpc)
    return Target(info, contracts.Binding(http_method, path, "", ""), compile_template(path))


def _winner(targets: list[Target], http_method: str, path: str) -> str | None:
    found = Router(targets).match(http_method, path)
    return None if found is None else found.target.info.full_method.removeprefix(SHELVES)


SPECIFICITY = [
    # (template of GetItem, template of ListItems, request path, expected winner)
    ("/v1/a/{x}", "/v1/a/b", "/v1/a/b", "ListItems"),
    ("/v1/a/{x}", "/v1/a/b", "/v1/a/c", "GetItem"),
    ("/v1/{x}/b", "/v1/a/{y}", "/v1/a/b", "ListItems"),  # leftmost literal decides
    ("/v1/files/**", "/v1/{x}/a/b", "/v1/files/a/b", "GetItem"),  # a deep template can be more specific
    ("/v1/files/**", "/v1/files/*/b", "/v1/files/a/b", "ListItems"),  # * beats **
    ("/v1/files/**", "/v1/files/*/b", "/v1/files/a/c", "GetItem"),
    ("/v1/x:run", "/v1/x", "/v1/x:run", "GetItem"),
    ("/v1/x:run", "/v1/x", "/v1/x", "ListItems"),
]


@pytest.mark.parametrize(("first", "second", "path", "winner"), SPECIFICITY)
def test_most_specific_wins_in_any_registration_order(first: str, second: str, path: str, winner: str) -> None:
    forward = [_target("GetItem", "GET", first), _target("ListItems", "GET", second)]
    assert _winner(forward, "GET", path) == winner
    assert _winner(list(reversed(forward)), "GET", path) == winner


CONFLICTS = [
    ("/v1/things/{a}", "/v1/things/{b}"),
    ("/v1/{name=things/*}", "/v1/things/{x}"),
    ("/v1/things/*", "/v1/things/{x}"),
    ("/v1/{path=**}", "/v1/**"),
    ("/v1/x:run", "/v1/x:run"),
]


@pytest.mark.parametrize(("first", "second"), CONFLICTS)
def test_same_method_and_shape_refuse_to_build_naming_both(first: str, second: str) -> None:
    with pytest.raises(RouteError) as info:
        Router([_target("GetItem", "GET", first), _target("ListItems", "GET", second)])
    assert SHELVES + "GetItem" in str(info.value)
    assert SHELVES + "ListItems" in str(info.value)


NOT_CONFLICTS = [
    ("GET", "/v1/x:a", "GET", "/v1/x:b"),
    ("GET", "/v1/things/{a}", "DELETE", "/v1/things/{a}"),
    ("GET", "/v1/things/{a}", "GET", "/v1/things/{a}/more"),
    ("GET", "/v1/things/{a}", "GET", "/v1/things/literal"),
]


@pytest.mark.parametrize(("m1", "p1", "m2", "p2"), NOT_CONFLICTS)
def test_different_shapes_or_methods_coexist(m1: str, p1: str, m2: str, p2: str) -> None:
    router = Router([_target("GetItem", m1, p1), _target("ListItems", m2, p2)])
    assert len(router.routes) == 2


def test_two_streams_or_one_rpc_twice_conflict() -> None:
    with pytest.raises(RouteError, match="WatchItems"):
        Router([_target("WatchItems", "GET", "/v1/w/{a}"), _target("WatchEvents", "GET", "/v1/w/{b}")])
    with pytest.raises(RouteError, match="GetItem"):
        Router([_target("GetItem", "GET", "/v1/w/{a}"), _target("GetItem", "GET", "/v1/w/{b}")])


@pytest.mark.parametrize("order", ["unary first", "stream first"])
def test_unary_and_stream_may_share_a_template(order: str) -> None:
    pair = [_target("ListEvents", "GET", "/v1/feed"), _target("WatchEvents", "GET", "/v1/feed")]
    router = Router(pair if order == "unary first" else list(reversed(pair)))
    found = router.match("GET", "/v1/feed")
    assert found is not None
    assert found.route.pick(streaming=True).info.full_method == SHELVES + "WatchEvents"
    assert found.target.info.full_method == SHELVES + "ListEvents"


def test_each_rpc_of_a_pair_gets_its_own_variable_names() -> None:
    router = Router([_target("ListEvents", "GET", "/v1/w/{count}"), _target("WatchEvents", "GET", "/v1/w/{shelf_id}")])
    unary, stream = router.match("GET", "/v1/w/7"), router.match("GET", "/v1/w/7", streaming=True)
    assert unary is not None and unary.variables == {"count": "7"}
    assert stream is not None and stream.variables == {"shelf_id": "7"}


def test_a_lone_stream_serves_everyone() -> None:
    found = Router([_target("WatchItems", "GET", "/v1/feed")]).match("GET", "/v1/feed")
    assert found is not None
    assert found.target.info.full_method == SHELVES + "WatchItems"


def test_client_streaming_methods_are_skipped_not_routed(caplog: pytest.LogCaptureFixture) -> None:
    targets = targets_of(methods_of([shelves.service()]))
    assert SHELVES + "Upload" not in {t.info.full_method for t in targets}
    assert "Upload" in caplog.text


def test_methods_of_a_foreign_service_route_by_service_name_with_default_policy() -> None:
    infos = {m.full_method: m for m in methods_of([shelves.service()])}
    get = infos[SHELVES + "GetItem"]
    assert get.unit == "edgetest.v1.Shelves"
    assert get.policy == policy.Policy()


def test_descriptor_set_loads_into_a_fresh_pool_or_an_existing_one() -> None:
    services = load_descriptor_set(shelves.descriptor_set())
    assert [s.full_name for s in services] == ["edgetest.v1.Shelves"]
    pool = services[0].file.pool
    again = load_descriptor_set(shelves.descriptor_set(), pool)  # files already there are not re-added
    assert again[0].full_name == "edgetest.v1.Shelves"


def test_agentmesh_contracts_route_without_conflict() -> None:
    router = build_router(policy.table().values())
    login = router.match("POST", "/api/v1/auth/login")
    assert login is not None
    assert login.target.info.full_method == "/agentmesh.v1.AuthService/Login"
    feed = router.match("GET", "/api/v1/notifications")
    assert feed is not None
    assert feed.route.pick(streaming=True).info.full_method == "/agentmesh.v1.NotificationService/WatchNotifications"
    assert feed.route.pick(streaming=False).info.full_method == "/agentmesh.v1.NotificationService/ListNotifications"
    assert router.allowed_methods("/api/v1/auth/login") == ["POST"]


def test_agentmesh_methods_keep_their_unit_and_policy() -> None:
    infos = {m.full_method: m for m in methods_of(contracts.services())}
    assert infos["/agentmesh.v1.AuthService/Login"] == policy.lookup("/agentmesh.v1.AuthService/Login")
    register = infos["/agentmesh.v1.AuthService/Register"]
    assert dataclasses.astuple(register.policy)[0] is True and register.unit == "auth"
