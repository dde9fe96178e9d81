"""Request building (path, body, query, REQUIRED, OUTPUT_ONLY) and reply rendering, table-driven."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from agentmesh.v1 import admin_pb2
from google.protobuf import json_format, struct_pb2

from edge.jsoncodec import Codec, CodecOptions, descriptor_of
from edge.pattern import split_path
from edge.routes import Router, Target, build_router
from edge.transcode import BindError, MethodPlan, event_id_getter, parse_json
from services.common import policy
from services.common.policy import MethodInfo, Policy
from tests.edge import shelves

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED_BODIES: list[dict[str, Any]] = json.loads((FIXTURES / "seed_bodies.json").read_text())


def _plan(router: Router, http_method: str, path: str, *, streaming: bool = False, **options: Any) -> MethodPlan:
    found = router.match(http_method, path)
    assert found is not None, f"no route for {http_method} {path}"
    return MethodPlan(found.route.pick(streaming), Codec(CodecOptions(**options)))


def _build(
    router: Router, http_method: str, path: str, body: Any = None, query: str = "", **options: Any
) -> dict[str, Any]:
    found = router.match(http_method, path)
    assert found is not None
    plan = MethodPlan(found.target, Codec(CodecOptions(**options)))
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
    message = plan.build(found.variables, body, pairs)  # type: ignore[arg-type]
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


LIST = "/v1/shelves/s1/items"

QUERIES = [
    ("tag=a&tag=b", {"tag": ["a", "b"]}),
    ("color=COLOR_RED", {"color": "COLOR_RED"}),
    ("color=2", {"color": "COLOR_GREEN"}),
    ("colors=COLOR_RED&colors=2", {"colors": ["COLOR_RED", "COLOR_GREEN"]}),
    ("active=true", {"active": True}),
    ("active=1", {"active": True}),
    ("active=false", {}),
    ("min_count=9007199254740993", {"min_count": "9007199254740993"}),
    ("minCount=-5", {"min_count": "-5"}),
    ("cursor=18446744073709551615", {"cursor": "18446744073709551615"}),
    ("since=2024-01-02T03:04:05.5Z", {"since": "2024-01-02T03:04:05.500Z"}),
    ("since=2024-01-02T05:04:05%2B02:00", {"since": "2024-01-02T03:04:05Z"}),
    ("within=1.5s", {"within": "1.500s"}),
    ("fields=fullName,address.city", {"fields": "fullName,address.city"}),
    ("fields=full_name", {"fields": "fullName"}),
    ("filter.q=x&filter.address.city=Paris", {"filter": {"q": "x", "address": {"city": "Paris"}}}),
    ("filter.address.postalCode=75001", {"filter": {"address": {"postal_code": "75001"}}}),
    ("filter.tags=a&filter.tags=b", {"filter": {"tags": ["a", "b"]}}),
    ("limit=5", {"limit": 5}),
    ("limit=0", {"limit": 0}),  # a wrapper is present even at zero
    ("archived=false", {"archived": False}),
    ("min_price=1.5&ratio=0.25", {"min_price": 1.5, "ratio": 0.25}),
    ("min_price=NaN", {"min_price": "NaN"}),
    ("token=aGk", {"token": "aGk="}),
    ("owner=", {"owner": ""}),  # optional: present though empty
    ("sizes=1&sizes=2", {"sizes": [1, 2]}),
    ("labels[env]=prod&labels[tier]=a", {"labels": {"env": "prod", "tier": "a"}}),
    ("pageSize=10", {"page_size": 10}),
    ("page_size=1e1", {"page_size": 10}),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES, ids=[q for q, _ in QUERIES])
def test_query_parameters_bind_to_remaining_fields(
    shelves_router: Router, query: str, expected: dict[str, Any]
) -> None:
    decoded = "&".join(unquote(p) for p in query.split("&"))
    assert _build(shelves_router, "GET", LIST, query=decoded) == {"shelf_id": "s1", **expected}


BAD_QUERIES = [
    ("unknown=1", "unknown"),
    ("shelf_id=other", "shelf_id"),
    ("page_size=abc", "page_size"),
    ("page_size=1&page_size=2", "page_size"),
    ("page_size=99999999999", "page_size"),
    ("page_size=1.5", "page_size"),
    ("color=PURPLE", "color"),
    ("since=yesterday", "since"),
    ("within=5", "within"),
    ("meta=x", "meta"),
    ("filter=x", "filter"),
    ("filter.nope=x", "filter.nope"),
    ("active=maybe", "active"),
    ("labels=x", "labels"),
    ("tag[x]=y", "tag[x]"),
    ("token=@@@", "token"),
    ("cursor=-1", "cursor"),
]


@pytest.mark.parametrize(("query", "field"), BAD_QUERIES, ids=[q for q, _ in BAD_QUERIES])
def test_bad_query_parameters_name_the_field(shelves_router: Router, query: str, field: str) -> None:
    with pytest.raises(BindError) as info:
        _build(shelves_router, "GET", LIST, query=query)
    assert [v[0] for v in info.value.violations] == [field]


def test_unknown_query_parameters_are_ignored_when_relaxed(shelves_router: Router) -> None:
    assert _build(shelves_router, "GET", LIST, query="unknown=1&tag=a", ignore_unknown=True) == {
        "shelf_id": "s1",
        "tag": ["a"],
    }


CREATE = "/v1/shelves/s1/items"  # POST, body: "item"

BODIES = [
    # (body of POST /v1/shelves/s1/items, bound to `item`, with "title": "t" added; what `item` becomes)
    ({"count": "5"}, {"count": "5"}),
    ({"count": 5, "big": "18446744073709551615"}, {"count": "5", "big": "18446744073709551615"}),
    # OUTPUT_ONLY fields are dropped silently: no mass assignment of ids, owners, timestamps
    ({"itemId": "forged", "owner_id": "me", "createdAt": "2020-01-01T00:00:00Z"}, {}),
    ({"history": [{"city": 75}]}, {"history": [{"city": "75"}]}),
    ({"dueAt": "2024-05-06T07:08:09Z", "ttl": "-0.25s"}, {"due_at": "2024-05-06T07:08:09Z", "ttl": "-0.250s"}),
    ({"limit": "12", "note": "", "flag": False}, {"limit": "12", "note": "", "flag": False}),
    ({"attrs": {"a": [1, None]}, "extra": None}, {"attrs": {"a": [1.0, None]}, "extra": None}),
    ({"mask": "a,bC"}, {"mask": "a,bC"}),
    ({"counts": {"x": "3"}, "labels": {"7": "seven"}, "toggles": {"false": "no"}},
     {"counts": {"x": 3}, "labels": {"7": "seven"}, "toggles": {"false": "no"}}),
    ({"color": 1, "colors": ["COLOR_GREEN"]}, {"color": "COLOR_RED", "colors": ["COLOR_GREEN"]}),
    ({"lowerCamel": "x", "customName": "y"}, {"lowerCamel": "x", "json_custom": "y"}),
    ({"json_custom": "y"}, {"json_custom": "y"}),
    ({"nickname": None, "address": None}, {}),
    ({"steps": [{"stepId": "s"}]}, {"steps": [{"step_id": "s"}]}),
    ({"blob": "_-8", "ratio": "Infinity"}, {"blob": "/+8=", "ratio": "Infinity"}),
]


@pytest.mark.parametrize(("body", "expected"), BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_body_binds_to_its_field(shelves_router: Router, body: Any, expected: dict[str, Any]) -> None:
    built = _build(shelves_router, "POST", CREATE, body={"title": "t", **body})
    assert built == {"shelf_id": "s1", "item": {"title": "t", **expected}}


BAD_BODIES = [
    ({"title": "t", "bogus": 1}, ["item.bogus"]),
    ({"title": "t", "address": {"town": "x"}}, ["item.address.town"]),
    ({"title": "t", "history": [{}, {"city": []}]}, ["item.history[1].city"]),
    ({"title": "t", "tags": "x"}, ["item.tags"]),
    ({"title": "t", "tags": ["a", 1.5, {}]}, ["item.tags[2]"]),
    ({"title": "t", "colors": ["COLOR_RED", "BLUE"]}, ["item.colors[1]"]),
    ({"title": "t", "agentId": "a", "teamId": "b"}, ["item.team_id"]),
    ({"title": "t", "json_custom": "a", "customName": "b"}, ["item.json_custom"]),
    ({"title": "t", "small": 2**31}, ["item.small"]),
    ({"title": "t", "small": True}, ["item.small"]),
    ({"title": "t", "active": "true"}, ["item.active"]),
    ({"title": "t", "ratio": 1e39}, ["item.ratio"]),
    ({"title": "t", "dueAt": 1700000000}, ["item.due_at"]),
    ({"title": "t", "counts": {"x": "many"}}, ["item.counts[x]"]),
    ({"title": "t", "labels": {"seven": "x"}}, ["item.labels[seven]"]),
    ({"title": "t", "nothing": {"x": 1}}, ["item.nothing"]),
    ({"title": ["t"]}, ["item.title"]),
    ([], ["item"]),
    ({"count": 1}, ["item.title"]),  # REQUIRED, nested in the present item
    (None, ["item"]),  # REQUIRED at the top
    ({"title": "t", "steps": [{"stepId": "a"}, {"note": "no id"}]}, ["item.steps[1].step_id"]),
    ({"title": "t", "stepIndex": {"k": {}}}, ["item.step_index[k].step_id"]),
    (
        {"title": "t", "rule": {"name": "a", "children": [{"children": [{}]}]}},
        ["item.rule.children[0].name", "item.rule.children[0].children[0].name"],
    ),  # a type that contains itself is checked at every depth
]


@pytest.mark.parametrize(("body", "fields"), BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
def test_bad_bodies_name_the_field(shelves_router: Router, body: Any, fields: list[str]) -> None:
    with pytest.raises(BindError) as info:
        _build(shelves_router, "POST", CREATE, body=body)
    assert [v[0] for v in info.value.violations] == fields


def test_every_missing_required_field_is_listed_together(shelves_router: Router) -> None:
    plan = _plan(shelves_router, "POST", CREATE)
    with pytest.raises(BindError) as info:
        plan.build({}, {"steps": [{}, {}]})
    assert [v[0] for v in info.value.violations] == [
        "shelf_id",
        "item.title",
        "item.steps[0].step_id",
        "item.steps[1].step_id",
    ]
    assert info.value.message.startswith("missing required fields: shelf_id, item.title")


def test_unknown_body_fields_are_ignored_when_relaxed(shelves_router: Router) -> None:
    assert _build(shelves_router, "POST", CREATE, body={"title": "t", "bogus": {"deep": 1}}, ignore_unknown=True) == {
        "shelf_id": "s1",
        "item": {"title": "t"},
    }


def test_path_wins_over_body_and_may_set_output_only_ids(shelves_router: Router) -> None:
    body = {"item": {"title": "t", "shelfId": "other", "itemId": "forged"}, "updateMask": "title,note"}
    assert _build(shelves_router, "PUT", "/v1/shelves/s1/items/i1", body=body) == {
        "item": {"item_id": "i1", "shelf_id": "s1", "title": "t"},
        "update_mask": "title,note",
    }
    patched = _build(shelves_router, "PATCH", "/v1/shelves/s1/items/i1", body={"title": "t", "shelf_id": "x"})
    assert patched == {"item": {"item_id": "i1", "shelf_id": "s1", "title": "t"}}


def test_body_star_leaves_nothing_for_the_query(shelves_router: Router) -> None:
    with pytest.raises(BindError) as info:
        _build(shelves_router, "PUT", "/v1/shelves/s1/items/i1", body={"item": {"title": "t"}}, query="update_mask=x")
    assert info.value.violations[0][0] == "update_mask"


def test_multi_segment_variable_and_named_body_field(shelves_router: Router) -> None:
    assert _build(shelves_router, "DELETE", "/v1/shelves/s1/items/i1") == {"name": "shelves/s1/items/i1"}
    assert _build(shelves_router, "GET", "/v1/files/a/b%2Fc") == {"path": "a/b%2Fc"}
    assert _build(shelves_router, "POST", "/v1/echo/hey:shout", body={"city": "Lyon"}) == {
        "text": "hey",
        "address": {"city": "Lyon"},
    }


def test_a_body_without_body_rule_is_ignored(shelves_router: Router) -> None:
    assert _build(shelves_router, "GET", "/v1/items/i1", body={"item_id": "other"}) == {"item_id": "i1"}


@pytest.mark.parametrize(
    ("raw", "expected"), [(b"", None), (b"  \n", None), (b'{"a": 1}', {"a": 1}), (b"[1]", [1])]
)
def test_parse_json(raw: bytes, expected: Any) -> None:
    assert parse_json(raw) == expected


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"[NaN]", b"\xff\xfe", b'"\\ud800"'])
def test_invalid_json_is_a_bind_error(raw: bytes) -> None:
    with pytest.raises(BindError, match="not valid JSON"):
        parse_json(raw)


# ---------------------------------------------------------------------------
# Rendering


def test_render_whole_message_with_proto_names_by_default(shelves_router: Router) -> None:
    plan = _plan(shelves_router, "GET", "/v1/items/i1")
    reply = shelves.message("Item", item_id="i1", count=7, color=2, secret="never out")
    reply.created_at.FromSeconds(0)
    rendered = plan.render(reply)
    assert (rendered.status, rendered.content_type) == (200, "application/json")
    body = orjson.loads(rendered.body)
    assert body["item_id"] == "i1" and body["count"] == "7" and body["color"] == "COLOR_GREEN"
    assert body["created_at"] == "1970-01-01T00:00:00Z"
    assert body["tags"] == [] and body["active"] is False  # stable keys
    assert "secret" not in body  # INPUT_ONLY is never written
    assert "due_at" not in body and "nickname" not in body  # unset messages and optionals are left out


def test_render_in_lower_camel_case_when_asked(shelves_router: Router) -> None:
    plan = _plan(shelves_router, "GET", "/v1/items/i1", camel_case=True)
    body = orjson.loads(plan.render(shelves.message("Item", item_id="i1", json_custom="c")).body)
    assert body["itemId"] == "i1" and body["customName"] == "c" and "item_id" not in body


def test_render_response_body_field(shelves_router: Router) -> None:
    plan = _plan(shelves_router, "GET", "/v1/shelves/s1/items:search")
    reply = shelves.message("ListItemsResponse", items=[shelves.message("Item", item_id="a")], total_size=1)
    body = orjson.loads(plan.render(reply).body)
    assert isinstance(body, list) and body[0]["item_id"] == "a"


def test_render_http_body_as_raw_bytes(shelves_router: Router) -> None:
    export = _plan(shelves_router, "GET", "/v1/shelves/s1/export")
    reply = shelves.message("ExportResponse")
    reply.report.content_type = "text/csv"
    reply.report.data = b"a,b\n"
    assert export.render(reply) == type(export.render(reply))(200, b"a,b\n", "text/csv")
    headers = struct_pb2.Struct()
    headers.update({"Content-Disposition": 'attachment; filename="a.csv"', "set-cookie": "no=1",
                    "cache-control": "no-store\r\nX-Injected: 1", "content-language": 7})
    reply.report.extensions.add().Pack(headers)
    reply.report.extensions.add().Pack(struct_pb2.Value(string_value="not a Struct"))
    # only allowed headers with one-line text values: no cookie, no header injection, no number
    assert export.render(reply).headers == (("Content-Disposition", 'attachment; filename="a.csv"'),)
    download = _plan(shelves_router, "GET", "/v1/shelves/s1/download")
    raw = download.response_class(data=b"\x00")
    assert (download.render(raw).body, download.render(raw).content_type) == (b"\x00", "application/octet-stream")


@pytest.mark.parametrize(("status", "body"), [(201, b'{"text":"x"'), (202, b'{"text":"x"'), (204, b"")])
def test_success_status_comes_from_the_policy(shelves_router: Router, status: int, body: bytes) -> None:
    found = shelves_router.match("POST", "/v1/echo")
    assert found is not None
    target = found.target
    info = MethodInfo(target.info.full_method, target.info.unit, target.info.descriptor, Policy(success_status=status))
    plan = MethodPlan(Target(info, target.binding, target.template), Codec())
    rendered = plan.render(shelves.message("EchoResponse", text="x"))
    assert rendered.status == status and rendered.body.startswith(body)


def test_sse_event_ids_are_found_where_they_are() -> None:
    event = shelves.descriptor("ItemEvent")
    read = event_id_getter(event)
    assert read is not None and read(shelves.message("ItemEvent", id="e7")) == "e7"
    assert event_id_getter(shelves.descriptor("Address")) is None
    nested = event_id_getter(descriptor_of(admin_pb2.WatchEventsResponse()))
    assert nested is not None
    reply = admin_pb2.WatchEventsResponse()
    reply.event.id = "ev-1"
    assert nested(reply) == "ev-1"


# ---------------------------------------------------------------------------
# The platform's own contracts

AGENTMESH = build_router(policy.table().values())
JSON_BODIES = [b for b in SEED_BODIES if b["method"] != "WS"]


def _sample(path: str) -> str:
    parts, verb = split_path(path)
    return "/" + "/".join("sample-1" if p.startswith("{") else p for p in parts) + (f":{verb}" if verb else "")


@pytest.mark.parametrize("example", JSON_BODIES, ids=[f"{b['seed']} {b['path']}" for b in JSON_BODIES])
def test_seed_bodies_build_requests_verbatim(example: dict[str, Any]) -> None:
    found = AGENTMESH.match(example["method"], _sample(example["path"]))
    assert found is not None
    plan = MethodPlan(found.target, Codec())
    message = plan.build(found.variables, example["body"])
    assert message.ListFields()


def test_every_agentmesh_binding_compiles_a_plan() -> None:
    codec = Codec()
    plans = [MethodPlan(t, codec) for t in AGENTMESH.targets]
    assert len(plans) > 200


def test_login_without_password_fails_before_any_call() -> None:
    found = AGENTMESH.match("POST", "/api/v1/auth/login")
    assert found is not None
    with pytest.raises(BindError) as info:
        MethodPlan(found.target, Codec()).build({}, {"email": "a@b.c"})
    assert info.value.violations == (("password", "required field is missing"),)
