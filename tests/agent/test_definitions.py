"""AgentDefinitionService (seed 002's agent types) against the real agent unit."""

from __future__ import annotations

from typing import Any

import grpc
from agentmesh.v1 import agent_pb2
from google.protobuf import field_mask_pb2, struct_pb2

from tests.agent.conftest import Mesh, People, fails, violations

Code = grpc.StatusCode


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


TRANSLATOR_SCHEMA = {
    "type": "object",
    "properties": {
        "language": {"type": "string", "enum": ["en", "fr", "de"]},
        "formality": {"type": "integer", "minimum": 1, "maximum": 3, "default": 2},
        "glossary": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["language"],
    "additionalProperties": False,
}


async def test_built_in_types_are_there_for_everyone(mesh: Mesh, people: People) -> None:
    listed = await mesh.definitions.ListAgentDefinitions(agent_pb2.ListAgentDefinitionsRequest(),
                                                         metadata=people.alice.metadata)
    assert [d.name for d in listed.definitions] == ["custom", "echo", "openai"]
    openai = next(d for d in listed.definitions if d.name == "openai")
    assert (openai.default_provider, openai.default_model, openai.enabled) == ("openai", "gpt-3.5-turbo", True)
    assert openai.parameter_schema["properties"]["temperature"]["maximum"] == 2
    by_name = await mesh.definitions.GetAgentDefinition(agent_pb2.GetAgentDefinitionRequest(definition_id="echo"),
                                                        metadata=people.bob.metadata)
    by_id = await mesh.definitions.GetAgentDefinition(
        agent_pb2.GetAgentDefinitionRequest(definition_id=by_name.definition.definition_id),
        metadata=people.bob.metadata)
    assert by_id.definition == by_name.definition
    tools = await mesh.definitions.ListAgentDefinitions(agent_pb2.ListAgentDefinitionsRequest(capability="tools"),
                                                        metadata=people.alice.metadata)
    assert [d.name for d in tools.definitions] == ["openai"]


async def test_only_admins_write_and_the_schema_is_enforced(mesh: Mesh, people: People) -> None:
    admin, alice = people.admin, people.alice
    request = agent_pb2.CreateAgentDefinitionRequest(
        name="translator", display_name="Translator", default_provider="echo", capabilities=["chat", "Chat"],
        parameter_schema=_struct(TRANSLATOR_SCHEMA),
    )
    await fails(mesh.definitions.CreateAgentDefinition(request, metadata=alice.metadata), Code.PERMISSION_DENIED)
    created = (await mesh.definitions.CreateAgentDefinition(request, metadata=admin.metadata)).definition
    assert (created.name, created.enabled, list(created.capabilities)) == ("translator", True, ["chat"])
    await fails(mesh.definitions.CreateAgentDefinition(request, metadata=admin.metadata), Code.ALREADY_EXISTS)

    err = await fails(mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(
        name="t", type="translator", parameters=_struct({"language": "es", "formality": 7, "glossary": {"a": 1},
                                                         "tone": "dry"})), metadata=alice.metadata),
        Code.INVALID_ARGUMENT)
    assert violations(err) == {
        "parameters.language": "must be one of 'en', 'fr', 'de'",
        "parameters.formality": "must be at most 3",
        "parameters.glossary.a": "must be a string",
        "parameters.tone": "is not a parameter of this agent type (known: formality, glossary, language)",
    }
    err = await fails(mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="t", type="translator"),
                                              metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert violations(err) == {"parameters.language": "is required"}
    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(
        name="t", type="translator", parameters=_struct({"language": "fr"})), metadata=alice.metadata)).agent
    assert dict(agent.parameters) == {"language": "fr", "formality": 2}  # the default filled in
    assert agent.provider == "echo"


async def test_bad_schemas_are_refused(mesh: Mesh, people: People) -> None:
    bad: dict[str, Any] = {
        "type": "object",
        "properties": {"n": {"type": "int"}, "m": {"minimum": "low"}, "k": {"type": "number", "minimum": 5,
                                                                            "maximum": 1}},
        "pattern": "x",
        "required": "n",
    }
    err = await fails(mesh.definitions.CreateAgentDefinition(agent_pb2.CreateAgentDefinitionRequest(
        name="Bad Name", parameter_schema=_struct(bad), default_provider="Open AI"), metadata=people.admin.metadata),
        Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {
        "name", "default_provider", "parameter_schema.pattern", "parameter_schema.properties.n.type",
        "parameter_schema.properties.m.minimum", "parameter_schema.properties.k.maximum", "parameter_schema.required",
    }
    err = await fails(mesh.definitions.CreateAgentDefinition(agent_pb2.CreateAgentDefinitionRequest(
        name="arr", parameter_schema=_struct({"type": "array"})), metadata=people.admin.metadata),
        Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"parameter_schema.type"}
    err = await fails(mesh.definitions.CreateAgentDefinition(agent_pb2.CreateAgentDefinitionRequest(
        name="dflt", parameter_schema=_struct({"properties": {"t": {"type": "number", "maximum": 1, "default": 3}}})),
        metadata=people.admin.metadata), Code.INVALID_ARGUMENT)
    assert set(violations(err)) == {"parameter_schema.properties.t.default"}


async def test_update_disable_and_delete(mesh: Mesh, people: People) -> None:
    admin, alice = people.admin, people.alice
    created = (await mesh.definitions.CreateAgentDefinition(agent_pb2.CreateAgentDefinitionRequest(
        name="scratch", default_model="m1"), metadata=admin.metadata)).definition
    ident = created.definition_id
    await fails(mesh.definitions.UpdateAgentDefinition(agent_pb2.UpdateAgentDefinitionRequest(
        definition_id=ident, display_name="x"), metadata=alice.metadata), Code.PERMISSION_DENIED)
    err = await fails(mesh.definitions.UpdateAgentDefinition(agent_pb2.UpdateAgentDefinitionRequest(
        definition_id=ident, update_mask=field_mask_pb2.FieldMask(paths=["name"])), metadata=admin.metadata),
        Code.INVALID_ARGUMENT)
    assert "update_mask" in violations(err)
    updated = (await mesh.definitions.UpdateAgentDefinition(agent_pb2.UpdateAgentDefinitionRequest(
        definition_id=ident, display_name="Scratch", capabilities=["vision"]), metadata=admin.metadata)).definition
    assert (updated.display_name, updated.default_model, list(updated.capabilities)) == ("Scratch", "m1", ["vision"])

    agent = (await mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="a", type="scratch"),
                                           metadata=alice.metadata)).agent
    assert agent.model == "m1"
    err = await fails(mesh.definitions.DeleteAgentDefinition(agent_pb2.DeleteAgentDefinitionRequest(
        definition_id=ident), metadata=admin.metadata), Code.FAILED_PRECONDITION)
    assert "used by 1 agent" in err.details()

    await mesh.definitions.UpdateAgentDefinition(agent_pb2.UpdateAgentDefinitionRequest(
        definition_id=ident, enabled=False), metadata=admin.metadata)
    for who, names in ((alice, ["custom", "echo", "openai"]), (admin, ["custom", "echo", "openai", "scratch"])):
        listed = await mesh.definitions.ListAgentDefinitions(agent_pb2.ListAgentDefinitionsRequest(),
                                                             metadata=who.metadata)
        assert [d.name for d in listed.definitions] == names
    disabled = await mesh.definitions.ListAgentDefinitions(agent_pb2.ListAgentDefinitionsRequest(enabled=False),
                                                           metadata=admin.metadata)
    assert [d.name for d in disabled.definitions] == ["scratch"]
    await fails(mesh.definitions.GetAgentDefinition(agent_pb2.GetAgentDefinitionRequest(definition_id=ident),
                                                    metadata=alice.metadata), Code.NOT_FOUND)
    err = await fails(mesh.agents.CreateAgent(agent_pb2.CreateAgentRequest(name="b", type="scratch"),
                                              metadata=alice.metadata), Code.INVALID_ARGUMENT)
    assert violations(err) == {"type": "agent type 'scratch' is disabled"}
    # The existing agent keeps working; once it is gone the type can go.
    await mesh.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent_id=agent.agent_id, name="still"),
                                  metadata=alice.metadata)
    await mesh.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(agent_id=agent.agent_id), metadata=alice.metadata)
    await mesh.definitions.DeleteAgentDefinition(agent_pb2.DeleteAgentDefinitionRequest(definition_id="scratch"),
                                                 metadata=admin.metadata)
    await fails(mesh.definitions.GetAgentDefinition(agent_pb2.GetAgentDefinitionRequest(definition_id=ident),
                                                    metadata=admin.metadata), Code.NOT_FOUND)
