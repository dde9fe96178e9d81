"""The compiled proto3 JSON codec: scalar tables, well-known types, and agreement with json_format."""

from __future__ import annotations

import math
from typing import Any

import pytest
from agentmesh.v1 import auth_pb2
from google.protobuf import json_format

from edge import jsoncodec
from edge.jsoncodec import Codec, CodecOptions, JsonError
from tests.edge import shelves

SCALARS_IN = [
    # (field of Item, JSON value, stored value)
    ("small", 5, 5),
    ("small", "5", 5),
    ("small", -(2**31), -(2**31)),
    ("small", 3.0, 3),
    ("small", "1e2", 100),
    ("count", "9223372036854775807", 2**63 - 1),
    ("count", -(2**63), -(2**63)),
    ("big", "18446744073709551615", 2**64 - 1),
    ("crc", 4294967295, 4294967295),
    ("delta", "-7", -7),
    ("price", 1, 1.0),
    ("price", "2.5", 2.5),
    ("price", "-Infinity", -math.inf),
    ("ratio", 0.5, 0.5),
    ("active", True, True),
    ("title", "héllo", "héllo"),
    ("title", 42, "42"),  # the seeds send numeric ids for string fields
    ("title", 4.5, "4.5"),
    ("blob", "aGVsbG8=", b"hello"),
    ("blob", "aGVsbG8", b"hello"),
    ("blob", "-_8", b"\xfb\xff"),
    ("color", "COLOR_GREEN", 2),
    ("color", 1, 1),
    ("color", 9, 9),  # open enum: unknown numbers are kept
]


@pytest.mark.parametrize(("field", "value", "stored"), SCALARS_IN, ids=[f"{f}={v!r}" for f, v, _ in SCALARS_IN])
def test_scalars_in(field: str, value: Any, stored: Any) -> None:
    item = shelves.message("Item")
    Codec().decode({field: value}, item)
    assert getattr(item, field) == stored


BAD_SCALARS = [
    ("small", 2**31),
    ("small", "12abc"),
    ("small", 1.5),
    ("small", True),
    ("small", " 1"),
    ("small", "1_000"),
    ("small", "\u0661\u0662"),  # non-ASCII digits
    ("small", "abc"),
    ("small", ""),
    ("big", -1),
    ("count", 2**63),
    ("crc", -1),
    ("price", "nan"),
    ("price", "+inf"),
    ("price", "1.5x"),
    ("price", True),
    ("price", 10**400),
    ("ratio", 3.5e38),
    ("active", "true"),
    ("active", 1),
    ("title", True),
    ("title", {"a": 1}),
    ("blob", "not base64!"),
    ("blob", 12),
    ("color", "GREEN"),
    ("color", 2**31),
    ("color", 1.0),
]


@pytest.mark.parametrize(("field", "value"), BAD_SCALARS, ids=[f"{f}={v!r}"[:40] for f, v in BAD_SCALARS])
def test_bad_scalars_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(JsonError) as info:
        Codec().decode({field: value}, shelves.message("Item"))
    assert info.value.field == field


SCALARS_OUT = [
    ({"count": 2**40}, "count", "1099511627776"),
    ({"big": 2**64 - 1}, "big", "18446744073709551615"),
    ({"delta": -3}, "delta", "-3"),
    ({"ratio": 0.1}, "ratio", 0.1),  # the shortest text of the 32-bit float
    ({"ratio": math.inf}, "ratio", "Infinity"),
    ({"price": math.nan}, "price", "NaN"),
    ({"blob": b"\xfb\xff"}, "blob", "+/8="),
    ({"color": 2}, "color", "COLOR_GREEN"),
    ({"color": 9}, "color", 9),
    ({}, "color", "COLOR_UNSPECIFIED"),
    ({}, "count", "0"),
    ({}, "title", ""),
    ({"ids": [1, 2]}, "ids", ["1", "2"]),
    ({"colors": [1, 2]}, "colors", ["COLOR_RED", "COLOR_GREEN"]),
    ({"labels": {5: "five"}}, "labels", {"5": "five"}),
    ({"toggles": {True: "on"}}, "toggles", {"true": "on"}),
]


@pytest.mark.parametrize(("fields", "key", "json_value"), SCALARS_OUT, ids=[str(i) for i in range(len(SCALARS_OUT))])
def test_scalars_out(fields: dict[str, Any], key: str, json_value: Any) -> None:
    out = Codec().encode(shelves.message("Item", **fields))
    assert out[key] == json_value


WELL_KNOWN_OUT = [
    (lambda m: m.due_at.FromSeconds(1_700_000_000), "due_at", "2023-11-14T22:13:20Z"),
    (lambda m: m.due_at.FromNanoseconds(1_500_000_000), "due_at", "1970-01-01T00:00:01.500Z"),
    (lambda m: m.due_at.FromNanoseconds(-1), "due_at", "1969-12-31T23:59:59.999999999Z"),
    (lambda m: m.due_at.FromJsonString("0001-01-01T00:00:00Z"), "due_at", "0001-01-01T00:00:00Z"),
    (lambda m: m.due_at.FromJsonString("9999-12-31T23:59:59.000001Z"), "due_at", "9999-12-31T23:59:59.000001Z"),
    (lambda m: m.ttl.FromNanoseconds(-1_500_000_000), "ttl", "-1.500s"),
    (lambda m: m.ttl.FromSeconds(3), "ttl", "3s"),
    (lambda m: m.limit.SetInParent(), "limit", "0"),
    (lambda m: m.fv.SetInParent(), "fv", 0.0),
    (lambda m: m.raw.SetInParent(), "raw", ""),
    (lambda m: m.mask.paths.extend(["full_name", "a.b_c"]), "mask", "full_name,a.b_c"),
    (lambda m: m.attrs.update({"n": 1, "l": [True, None], "o": {}}), "attrs", {"n": 1.0, "l": [True, None], "o": {}}),
    (lambda m: m.extra.SetInParent(), "extra", None),
    (lambda m: m.nothing.SetInParent(), "nothing", {}),
]


@pytest.mark.parametrize(("fill", "key", "json_value"), WELL_KNOWN_OUT, ids=[k for _, k, _ in WELL_KNOWN_OUT])
def test_well_known_types_out(fill: Any, key: str, json_value: Any) -> None:
    item = shelves.message("Item")
    fill(item)
    assert Codec().encode(item)[key] == json_value


def _rich_item() -> Any:
    item = shelves.message("Item")
    Codec().decode(
        {
            "shelfId": "s", "title": "t", "count": "-12", "big": "18446744073709551615", "small": -3, "price": 1.25,
            "ratio": 0.3, "active": True, "blob": "AAEC", "color": "COLOR_RED", "tags": ["a", "b"],
            "colors": ["COLOR_GREEN", 7], "address": {"city": "Paris", "postalCode": "75001", "color": 2},
            "dueAt": "2024-01-02T03:04:05.123456Z", "ttl": "100.000001s", "limit": "-7", "note": "n",
            "flag": False, "attrs": {"a": [1, "x", None, {"b": True}]}, "counts": {"a": 1, "b": -2},
            "places": {"h": {"city": "X"}}, "nickname": "", "history": [{"city": "A"}, {}], "agentId": "ag",
            "extra": {"k": [1.5]}, "ids": ["1", 2], "score": 2.5, "mask": "title", "labels": {"5": "five"},
            "delta": -9, "crc": 7, "list": [1, "a", [], {}], "nothing": {}, "u32": 3, "raw": "AAE=", "fv": 1.25,
            "level": 0, "toggles": {"true": "yes"}, "lowerCamel": "lc", "customName": "cn",
            "steps": [{"stepId": "s1", "note": "x"}], "stepIndex": {"k": {"stepId": "s2"}},
        },
        item,
    )
    return item


@pytest.mark.parametrize("camel", [False, True], ids=["proto names", "lowerCamelCase"])
def test_output_agrees_with_json_format(camel: bool) -> None:
    item = _rich_item()
    ours = Codec(CodecOptions(camel_case=camel)).encode(item)
    reference = json_format.MessageToDict(
        item, preserving_proto_field_name=not camel, always_print_fields_with_no_presence=True
    )
    del reference["secret"]  # INPUT_ONLY: the edge never writes it
    assert ours == reference


def test_output_without_unpopulated_fields_agrees_with_json_format() -> None:
    item = shelves.message("Item", title="t", count=3)
    item.address.SetInParent()
    ours = Codec(CodecOptions(emit_unpopulated=False)).encode(item)
    assert ours == json_format.MessageToDict(item, preserving_proto_field_name=True)


def test_input_agrees_with_json_format() -> None:
    item = _rich_item()
    text = json_format.MessageToDict(item)
    again = shelves.message("Item")
    Codec().decode(text, again)
    assert again == item


def test_recursive_types_compile_once_and_work() -> None:
    codec = Codec()
    request = shelves.message("ListItemsRequest")
    codec.decode({"filter": {"q": "a", "anyOf": [{"q": "b", "negate": {"q": "c"}}]}}, request)
    assert request.filter.any_of[0].negate.q == "c"
    assert codec.encode(request.filter)["any_of"][0]["negate"]["q"] == "c"


def test_output_only_is_dropped_on_input_and_input_only_never_written() -> None:
    item = shelves.message("Item")
    Codec().decode({"itemId": "x", "owner_id": "y", "title": "t", "secret": "s"}, item)
    assert (item.item_id, item.owner_id, item.title, item.secret) == ("", "", "t", "s")
    assert "secret" not in Codec().encode(item)
    register = auth_pb2.RegisterRequest(email="a@b.c", password="hunter22")
    assert "password" not in Codec().encode(register)


def test_compat_parse_keeps_the_old_entry_point() -> None:
    login = auth_pb2.LoginRequest()
    jsoncodec.parse({"email": "a@b.c", "password": "p", "user_id": 7}, login)
    assert (login.email, login.user_id) == ("a@b.c", "7")
    with pytest.raises(JsonError):
        jsoncodec.parse({"nope": 1}, auth_pb2.LoginRequest())
    jsoncodec.parse({"nope": 1}, auth_pb2.LoginRequest(), ignore_unknown=True)


def test_a_message_field_null_or_empty_object() -> None:
    item = shelves.message("Item")
    Codec().decode({"address": {}}, item)
    assert item.HasField("address")
    other = shelves.message("Item")
    Codec().decode({"address": None}, other)
    assert not other.HasField("address")
