"""The OpenAPI document and the offline documentation pages.

The document is checked against the OpenAPI 3.1 schema, against the seeds'
endpoint lists, and field by field against the descriptors it comes from. A
service that is not AgentMesh's (compiled here with protoc, comments and all)
covers the template forms the platform's own contracts do not use. The pages
are fetched through a real aiohttp server, with every asset they reference.
"""

from __future__ import annotations

import json
import re
import sysconfig
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor
from grpc_tools import protoc
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from edge.docs import PAGE_CSP, add_doc_routes
from edge.openapi import HTTP_BODY, NDJSON, SSE, OpenApiProvider, build_openapi, openapi_path
from services.common import contracts, policy
from services.common.policy import MethodInfo, Policy

ROOT = Path(__file__).resolve().parents[2]
SEED_ENDPOINTS: list[dict[str, Any]] = json.loads((ROOT / "tests/fixtures/seed_endpoints.json").read_text())
BEHAVIOR: Any = field_behavior_pb2.field_behavior
BINARY = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@cache
def document() -> dict[str, Any]:
    return build_openapi(policy.table().values(), title="AgentMesh", version="test")


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]


def operation_of(rpc: str, doc: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """The operations that reach a gRPC method (as itself or as the stream of a shared template)."""
    found = operations(doc or document())
    return [(p, m, op) for p, m, op in found if rpc in (op["x-agentmesh-rpc"], op.get("x-agentmesh-stream-rpc"))]


def success(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    codes = [code for code in op["responses"] if code.startswith("2")]
    assert len(codes) == 1, codes
    return codes[0], op["responses"][codes[0]]


def shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def behaviors(field: Any) -> set[int]:
    return set(field.GetOptions().Extensions[BEHAVIOR])


# ---------------------------------------------------------------------------
# The platform's document


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_every_seed_rpc_endpoint_is_an_operation() -> None:
    documented = {(method.upper(), shape(path)) for path, method, _ in operations(document())}
    missing = [
        (e["method"], e["path"])
        for e in SEED_ENDPOINTS
        if e["kind"] == "rpc" and (e["method"], shape(e["path"])) not in documented
    ]
    assert missing == []


def test_every_binding_of_every_rpc_is_documented() -> None:
    doc = document()
    missing = []
    for info in policy.table().values():
        for binding in contracts.http_bindings(info.descriptor):
            path, _ = openapi_path(binding.path)
            op = doc["paths"].get(path, {}).get(binding.http_method.lower())
            if op is None or info.full_method not in (op["x-agentmesh-rpc"], op.get("x-agentmesh-stream-rpc")):
                missing.append(f"{info.full_method}: {binding.http_method} {binding.path}")
    assert missing == []
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_operation_ids_tags_and_paths() -> None:
    login = {path: op for path, _, op in operation_of("/agentmesh.v1.AuthService/Login")}
    assert login["/api/v1/auth/login"]["operationId"] == "AuthService_Login"
    assert login["/auth/login"]["operationId"] == "AuthService_Login_2"
    assert login["/auth/login"]["tags"] == ["AuthService"]
    assert "`POST /auth/login`" in login["/api/v1/auth/login"]["description"]
    [(path, _, _)] = operation_of("/agentmesh.v1.LlmService/StreamGenerate")
    assert path == "/api/v1/llm/generate:stream"  # the verb stays literal


def test_login_is_public_and_admin_list_users_needs_admin() -> None:
    for _, _, op in operation_of("/agentmesh.v1.AuthService/Login"):
        assert op["security"] == []
        assert op["x-agentmesh-policy"]["public"] is True
    [(path, method, op)] = operation_of("/agentmesh.v1.UserAdminService/AdminListUsers")
    assert (path, method) == ("/admin/users", "get")
    assert op["security"] == [{"bearerAuth": []}, {"apiKey": []}]
    assert op["x-agentmesh-policy"] == {"public": False, "roles": ["admin"], "permissions": [], "rate_limit": "default"}
    assert "`admin`" in op["description"] and "superuser" in op["description"]
    schemes = document()["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_response_body_selects_the_field() -> None:
    [(_, _, op)] = operation_of("/agentmesh.v1.UserAdminService/AdminListUsers")
    _, ok = success(op)
    assert ok["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/agentmesh.v1.User"},
    }
    names = {p["name"] for p in op["parameters"]}
    assert {"page_size", "page_token", "limit", "offset"} <= names
    assert all(p["in"] == "query" for p in op["parameters"])


def _message_schemas() -> list[tuple[Descriptor, dict[str, Any]]]:
    pool = descriptor_pool.Default()
    found = []
    for name, schema in document()["components"]["schemas"].items():
        if name.startswith("agentmesh.") and "properties" in schema:
            found.append((pool.FindMessageTypeByName(name), schema))
    return found


def test_field_behaviors_become_required_read_only_write_only() -> None:
    schemas = _message_schemas()
    assert len(schemas) > 100
    seen = {"required": 0, "readOnly": 0, "writeOnly": 0}
    for descriptor, schema in schemas:
        required = [f.name for f in descriptor.fields if field_behavior_pb2.REQUIRED in behaviors(f)]
        assert schema.get("required", []) == required, descriptor.full_name
        seen["required"] += len(required)
        for field in descriptor.fields:
            prop = schema["properties"][field.name]
            output_only = field_behavior_pb2.OUTPUT_ONLY in behaviors(field)
            input_only = field_behavior_pb2.INPUT_ONLY in behaviors(field)
            assert prop.get("readOnly", False) is output_only, field.full_name
            assert prop.get("writeOnly", False) is input_only, field.full_name
            if field_behavior_pb2.IMMUTABLE in behaviors(field):
                assert "Immutable" in prop["description"]
            seen["readOnly"] += output_only
            seen["writeOnly"] += input_only
    assert all(seen.values()), seen
    user = document()["components"]["schemas"]["agentmesh.v1.User"]["properties"]
    assert user["user_id"] == {"type": "string", "readOnly": True, "description": "Output only: ignored in requests."}
    assert user["created_at"]["format"] == "date-time" and user["created_at"]["readOnly"] is True


def test_proto3_json_types() -> None:
    props: dict[str, Any] = {}
    for descriptor, schema in _message_schemas():
        for field in descriptor.fields:
            props[field.full_name] = (field, schema["properties"][field.name])
    int64 = [s for f, s in props.values() if f.type == f.TYPE_INT64 and not f.is_repeated]
    assert int64 and all(s["type"] == "string" and s["format"] == "int64" for s in int64)
    structs = [
        (f, s) for f, s in props.values() if f.message_type is not None and f.message_type.full_name.endswith("Struct")
    ]
    assert structs and all(s["type"] == ("array" if f.is_repeated else "object") for f, s in structs)
    maps = [s for f, s in props.values() if f.message_type is not None and f.message_type.GetOptions().map_entry]
    assert all(s["type"] == "object" and "additionalProperties" in s for s in maps)


def test_path_bound_fields_leave_the_body() -> None:
    [(_, _, op), _] = operation_of("/agentmesh.v1.AgentService/UpdateAgent")
    assert [p["name"] for p in op["parameters"] if p["in"] == "path"] == ["agent_id"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert "agent_id" not in body["properties"] and "update_mask" in body["properties"]


def test_success_status_from_the_policy() -> None:
    for _, _, op in operation_of("/agentmesh.v1.AuthService/Register"):
        assert success(op)[0] == "201"
    deletes = [
        op for _, _, op in operations(document()) if policy.table()[op["x-agentmesh-rpc"]].policy.success_status == 204
    ]
    assert deletes
    for op in deletes:
        code, ok = success(op)
        assert code == "204" and "content" not in ok


def test_http_body_responses_are_binary() -> None:
    binary = {}
    for path, method, op in operations(document()):
        _, ok = success(op)
        if ok.get("content") == BINARY:
            binary[(method.upper(), path)] = op
    assert ("GET", "/conversations/analytics/report") in binary  # the CSV report
    assert ("POST", "/api/v1/tts/audio") in binary  # the audio
    for info in policy.table().values():
        reply = info.descriptor.output_type
        for binding in contracts.http_bindings(info.descriptor):
            field = reply.fields_by_name.get(binding.response_body)
            if field is not None and field.message_type is not None and field.message_type.full_name == HTTP_BODY:
                assert (binding.http_method, openapi_path(binding.path)[0]) in binary


def test_uploads_are_documented_as_forms_too() -> None:
    body = document()["paths"]["/api/v1/audio/transcribe"]["post"]["requestBody"]["content"]
    form = body["multipart/form-data"]["schema"]["properties"]
    assert form["audio"] == {"type": "string", "format": "binary"} and "full_round_trip" in form
    assert "multipart/form-data" not in document()["paths"]["/api/v1/tts/speak"]["post"]["requestBody"]["content"]


def test_streaming_rpcs_offer_ndjson_and_sse() -> None:
    streams = [info for info in policy.table().values() if info.server_streaming]
    assert len(streams) >= 5
    for info in streams:
        for _, _, op in operation_of(info.full_method):
            _, ok = success(op)
            assert {NDJSON, SSE} <= set(ok["content"]), info.full_method
            assert "NDJSON" in ok["description"] or "stream" in op["description"]
    shared = document()["paths"]["/api/v1/notifications"]["get"]
    assert shared["x-agentmesh-rpc"] == "/agentmesh.v1.NotificationService/ListNotifications"
    assert shared["x-agentmesh-stream-rpc"] == "/agentmesh.v1.NotificationService/WatchNotifications"
    content = success(shared)[1]["content"]
    assert set(content) == {"application/json", NDJSON, SSE}  # unary and stream on one template
    assert content[NDJSON]["schema"] == {"$ref": "#/components/schemas/agentmesh.v1.Notification"}
    chat = operation_of("/agentmesh.v1.ChatService/StreamChat")
    assert {op.get("x-agentmesh-websocket") for _, _, op in chat} == {"chat"}


def test_one_error_body_everywhere() -> None:
    doc = document()
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "status_code", "error", "request_id", "timestamp"}
    assert set(error["properties"]["error"]["properties"]) == {"code", "message", "details", "service"}
    assert error["properties"]["timestamp"]["format"] == "date-time"
    responses = doc["components"]["responses"]
    for ref in responses.values():
        assert ref["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} == set(
        responses["TooManyRequests"]["headers"]
    )
    assert "retry_after" in error["properties"]
    for _, _, op in operations(doc):
        assert {"400", "401", "403", "404", "429", "500", "503"} <= set(op["responses"])


def test_provider_builds_once() -> None:
    provider = OpenApiProvider(policy.table().values(), title="AgentMesh", version="test")
    first = provider()
    assert provider() is first
    assert first["paths"].keys() == document()["paths"].keys()


def test_camel_case_names() -> None:
    doc = build_openapi(policy.table().values(), title="AgentMesh", version="test", camel_case=True)
    user = doc["components"]["schemas"]["agentmesh.v1.User"]
    assert "userId" in user["properties"] and "user_id" not in user["properties"]


def compile_set(root: Path, out: Path, *names: str) -> list[descriptor_pb2.FileDescriptorProto]:
    """protoc with source info (comments), the way a deployment can ship its descriptor set."""
    wkt = Path(protoc.__file__).parent / "_proto"
    site = sysconfig.get_paths()["purelib"]
    args = ["protoc", f"-I{root}", f"-I{wkt}", f"-I{site}", "--include_imports", "--include_source_info"]
    assert protoc.main([*args, f"--descriptor_set_out={out}", *names]) == 0
    return list(descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file)


def test_platform_comments_with_source_info(tmp_path: Path) -> None:
    protos = ROOT / "protos"
    names = [str(p.relative_to(protos)) for p in sorted(protos.glob("agentmesh/v1/*.proto"))]
    files = compile_set(protos, tmp_path / "agentmesh.binpb", *names)
    doc = build_openapi(policy.table().values(), title="AgentMesh", version="test", source_info=files)
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["description"].startswith("Login exchanges a password for an access and a refresh token.")
    user = doc["components"]["schemas"]["agentmesh.v1.User"]
    assert user["properties"]["user_id"]["description"].startswith("Opaque account id.")
    assert doc["paths"].keys() == document()["paths"].keys()


# ---------------------------------------------------------------------------
# Any service: templates the platform does not use, comments from source info

LIBRARY_PROTO = """
syntax = "proto3";
package library.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/api/httpbody.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// Library keeps books on shelves.
service Library {
  // GetBook returns one book.
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {get: "/v1/{name=shelves/*/books/*}"};
  }
  rpc ListBooks(ListBooksRequest) returns (ListBooksResponse) {
    option (google.api.http) = {get: "/v1/{parent=shelves/*}/books"};
  }
  rpc CreateBook(CreateBookRequest) returns (Book) {
    option (google.api.http) = {post: "/v1/{parent=shelves/*}/books" body: "*"};
  }
  rpc UpdateBook(UpdateBookRequest) returns (Book) {
    option (google.api.http) = {patch: "/v1/{book.name=shelves/*/books/*}" body: "book"};
  }
  rpc PublishBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {post: "/v1/{name=shelves/*/books/*}:publish" body: "*"};
  }
  rpc WatchBook(GetBookRequest) returns (stream Book) {
    option (google.api.http) = {get: "/v1/{name=shelves/*/books/*}:watch"};
  }
  rpc DownloadBook(GetBookRequest) returns (google.api.HttpBody) {
    option (google.api.http) = {get: "/v1/{name=shelves/*/books/*}:download"};
  }
  rpc Browse(ListBooksRequest) returns (ListBooksResponse) {
    option (google.api.http) = {get: "/v1/*/browse/{filter.q}/**"};
  }
  rpc Upload(stream Book) returns (Book) {
    option (google.api.http) = {post: "/v1/upload" body: "*"};
  }
}

enum Genre {
  GENRE_UNSPECIFIED = 0;
  GENRE_FICTION = 1;
}

// Book is one book.
message Book {
  string name = 1 [(google.api.field_behavior) = OUTPUT_ONLY];
  // The title, as printed.
  string title = 2 [(google.api.field_behavior) = REQUIRED];
  int64 pages = 3;
  Genre genre = 4;
  google.protobuf.Timestamp published = 5;
  google.protobuf.Int32Value rating = 6;
  map<string, string> labels = 7;
  bytes cover = 8;
  string secret = 9 [(google.api.field_behavior) = INPUT_ONLY];
  string isbn = 10 [(google.api.field_behavior) = IMMUTABLE];
  uint64 copies = 11;
  oneof owner {
    string person = 12;
    string library = 13;
  }
}

message Inner { string x = 1; }

message Filter {
  string q = 1;
  int64 min_pages = 2;
  repeated Genre genres = 3;
  Inner deep = 4;
}

message GetBookRequest { string name = 1 [(google.api.field_behavior) = REQUIRED]; }

message ListBooksRequest {
  string parent = 1;
  int32 page_size = 2;
  Filter filter = 3;
  repeated string tag = 4;
  map<string, string> extra = 5;
  string owner = 6 [(google.api.field_behavior) = OUTPUT_ONLY];
  google.protobuf.Timestamp since = 7;
}

message ListBooksResponse { repeated Book books = 1; }

message CreateBookRequest {
  string parent = 1 [(google.api.field_behavior) = REQUIRED];
  Book book = 2 [(google.api.field_behavior) = REQUIRED];
}

message UpdateBookRequest {
  Book book = 1 [(google.api.field_behavior) = REQUIRED];
  string request_id = 2;
}
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[MethodInfo]]:
    root = tmp_path_factory.mktemp("library")
    (root / "library.proto").write_text(LIBRARY_PROTO)
    files = compile_set(root, root / "library.binpb", "library.proto")
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    service = pool.FindServiceByName("library.v1.Library")
    methods = [MethodInfo(contracts.full_method(m), "library", m, Policy()) for m in service.methods]
    doc = build_openapi(methods, title="Library", version="1", servers=["http://127.0.0.1:8000"], source_info=files)
    return doc, methods


def test_any_service_is_valid(library: tuple[dict[str, Any], list[MethodInfo]]) -> None:
    doc, _ = library
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert not operation_of("/library.v1.Library/Upload", doc)  # client streaming: not routed


def test_templates_become_openapi_paths() -> None:
    assert openapi_path("/v1/{name=shelves/*/books/*}:publish")[0] == "/v1/{name}:publish"
    assert openapi_path("/v1/{book.name=shelves/*}")[0] == "/v1/{book.name}"
    path, variables = openapi_path("/v1/*/browse/{filter.q}/**")
    assert path == "/v1/{wildcard1}/browse/{filter.q}/{wildcard2}"
    found = [(v.field_path, v.pattern) for v in variables]
    assert found == [("filter.q", "*"), ("wildcard1", "*"), ("wildcard2", "**")]


def test_pattern_variables_are_documented(library: tuple[dict[str, Any], list[MethodInfo]]) -> None:
    doc, _ = library
    op = doc["paths"]["/v1/{name}"]["get"]
    [param] = op["parameters"]
    assert param["in"] == "path" and param["required"] is True
    assert "`shelves/*/books/*`" in param["description"]
    assert param["schema"]["pattern"] == "^shelves/[^/]+/books/[^/]+$"
    assert {"/v1/{name}:publish", "/v1/{name}:watch", "/v1/{name}:download", "/v1/{book.name}"} <= set(doc["paths"])


def test_query_parameters_and_bodies(library: tuple[dict[str, Any], list[MethodInfo]]) -> None:
    doc, _ = library
    listing = doc["paths"]["/v1/{parent}/books"]
    query = {p["name"]: p for p in listing["get"]["parameters"] if p["in"] == "query"}
    # nested one level, repeated, enums, WKT text; not maps, not OUTPUT_ONLY, not two levels down
    assert set(query) == {"page_size", "filter.q", "filter.min_pages", "filter.genres", "tag", "since"}
    genre = {"$ref": "#/components/schemas/library.v1.Genre"}
    assert query["filter.genres"]["schema"] == {"type": "array", "items": genre}
    assert query["tag"]["explode"] is True
    assert query["filter.min_pages"]["schema"]["type"] == "string"
    assert query["since"]["schema"]["format"] == "date-time"
    create = listing["post"]["requestBody"]
    assert create["required"] is True
    body = create["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"book"} and body["required"] == ["book"]  # parent came from the path
    update = doc["paths"]["/v1/{book.name}"]["patch"]
    assert "$ref" in update["requestBody"]["content"]["application/json"]["schema"]
    assert {p["name"] for p in update["parameters"]} == {"book.name", "request_id"}
    browse = doc["paths"]["/v1/{wildcard1}/browse/{filter.q}/{wildcard2}"]["get"]
    assert "filter.q" not in {p["name"] for p in browse["parameters"] if p["in"] == "query"}


def test_schemas_of_any_service(library: tuple[dict[str, Any], list[MethodInfo]]) -> None:
    doc, _ = library
    schemas = doc["components"]["schemas"]
    book = schemas["library.v1.Book"]
    props = book["properties"]
    assert book["required"] == ["title"]
    assert props["name"]["readOnly"] is True and props["secret"]["writeOnly"] is True
    assert props["pages"] == {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
    assert props["copies"]["format"] == "uint64"
    assert props["genre"] == {"$ref": "#/components/schemas/library.v1.Genre"}
    assert schemas["library.v1.Genre"]["enum"] == ["GENRE_UNSPECIFIED", "GENRE_FICTION"]
    assert props["rating"]["type"] == ["integer", "null"]
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["cover"]["format"] == "byte"
    assert "Immutable" in props["isbn"]["description"]
    assert "`person`" in props["library"]["description"]
    download = doc["paths"]["/v1/{name}:download"]["get"]
    assert download["responses"]["200"]["content"] == BINARY
    watch = doc["paths"]["/v1/{name}:watch"]["get"]["responses"]["200"]["content"]
    assert set(watch) == {NDJSON, SSE}


def test_comments_from_source_info(library: tuple[dict[str, Any], list[MethodInfo]]) -> None:
    doc, _ = library
    book = doc["components"]["schemas"]["library.v1.Book"]
    assert book["description"] == "Book is one book."
    assert book["properties"]["title"]["description"] == "The title, as printed."
    assert doc["paths"]["/v1/{name}"]["get"]["description"].startswith("GetBook returns one book.")
    assert doc["tags"][0]["description"].startswith("Library keeps books on shelves.")


# ---------------------------------------------------------------------------
# The pages


@pytest.fixture
async def docs_client() -> Any:
    app = web.Application()
    add_doc_routes(app, OpenApiProvider(policy.table().values(), title="AgentMesh", version="test"))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_pages_use_only_local_assets(docs_client: TestClient[Any, Any]) -> None:
    for page in ("/docs", "/redoc"):
        response = await docs_client.get(page)
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Content-Security-Policy"] == PAGE_CSP
        text = await response.text()
        assert "http://" not in text and "https://" not in text
        assert 'spec-url="/openapi.json"' in text
        assert re.search(r"<script[^>]*>[^<]", text) is None  # no inline script
        urls = re.findall(r'(?:src|href)="([^"]+)"', text)
        assert len(urls) >= (3 if page == "/docs" else 1)
        for url in urls:
            assert url.startswith("/docs/static/")  # not "//host/..." either
            asset = await docs_client.get(url)
            assert asset.status == 200, url
            assert asset.content_type in ("text/javascript", "text/css"), url
            assert "immutable" in asset.headers["Cache-Control"]
            assert len(await asset.read()) > 100


async def test_openapi_json_is_served_with_an_etag(docs_client: TestClient[Any, Any]) -> None:
    response = await docs_client.get("/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    assert (await response.json())["paths"].keys() == document()["paths"].keys()
    again = await docs_client.get("/openapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


async def test_assets_gzip_and_revalidate(docs_client: TestClient[Any, Any]) -> None:
    page = await (await docs_client.get("/redoc")).text()
    [url] = re.findall(r'src="([^"]+)"', page)
    plain = await docs_client.get(url, headers={"Accept-Encoding": "identity"})
    body = await plain.read()
    packed = await docs_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert await packed.read() == body  # the client inflates it
    cached = await docs_client.get(url, headers={"If-None-Match": plain.headers["ETag"]})
    assert cached.status == 304
    assert (await docs_client.get(url.rsplit("/", 1)[0] + "/nope.js")).status == 404
