"""Path templates: the grammar of google.api.http, table-driven."""

from __future__ import annotations

import pytest

from edge.pattern import TemplateError, compile_template, split_path

MATCHES = [
    ("/api/v1/agents", "/api/v1/agents", {}),
    ("/api/v1/agents", "/api/v1/agents/", {}),
    ("/api/v1/agents/{agent_id}", "/api/v1/agents/a1", {"agent_id": "a1"}),
    ("/api/v1/agents/{agent_id}", "/api/v1/agents/a%20b", {"agent_id": "a b"}),
    ("/v1/{agent.team_id}/x", "/v1/t9/x", {"agent.team_id": "t9"}),
    ("/v1/{name=tenants/*/agents/*}", "/v1/tenants/t1/agents/a2", {"name": "tenants/t1/agents/a2"}),
    ("/v1/files/{path=**}", "/v1/files/a/b/c", {"path": "a/b/c"}),
    ("/v1/files/**", "/v1/files/a/b", {}),
    ("/v1/*/items", "/v1/anything/items", {}),
    ("/api/v1/llm/generate:stream", "/api/v1/llm/generate:stream", {}),
    ("/v1/{name=messages/*}:cancel", "/v1/messages/m1:cancel", {"name": "messages/m1"}),
]

MISSES = [
    ("/api/v1/agents/{agent_id}", "/api/v1/agents"),
    ("/api/v1/agents/{agent_id}", "/api/v1/agents/a1/start"),
    ("/api/v1/agents", "/api/v1/teams"),
    ("/api/v1/llm/generate:stream", "/api/v1/llm/generate"),
    ("/api/v1/llm/generate", "/api/v1/llm/generate:stream"),
    ("/v1/{name=tenants/*/agents/*}", "/v1/tenants/t1/agents"),
    ("/v1/*/items", "/v1//items"),
]

BAD = ["api/v1", "/v1/{", "/v1/{a b}", "/v1/**/x", "/v1/{a}/{a}", "/v1/x:", "/v1/{a}b", "/v1/a b"]


@pytest.mark.parametrize(("template", "path", "captured"), MATCHES)
def test_matches(template: str, path: str, captured: dict[str, str]) -> None:
    parts, verb = split_path(path)
    assert compile_template(template).match(parts, verb) == captured


@pytest.mark.parametrize(("template", "path"), MISSES)
def test_misses(template: str, path: str) -> None:
    parts, verb = split_path(path)
    assert compile_template(template).match(parts, verb) is None


@pytest.mark.parametrize("template", BAD)
def test_bad_templates(template: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(template)


def test_same_shape_means_collision() -> None:
    a = compile_template("/api/v1/agents/{agent_id}")
    b = compile_template("/api/v1/agents/{id}")
    c = compile_template("/api/v1/agents/*")
    assert a.shape == b.shape == c.shape


def test_literal_is_more_specific_than_variable() -> None:
    literal = compile_template("/admin/users/stats")
    variable = compile_template("/admin/users/{user_id}")
    assert literal.shape != variable.shape
    assert literal.rank < variable.rank
    assert compile_template("/a/c/{y}").rank < compile_template("/a/{x}/b").rank
