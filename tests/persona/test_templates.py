"""PersonaTemplateService on the real persona unit: admins write the catalogue, everyone reads what is published."""

from __future__ import annotations

import grpc
from agentmesh.v1 import persona_pb2
from google.protobuf import field_mask_pb2, struct_pb2

from tests.persona.conftest import People, Personas, fails, violations


def config(**values: object) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(values)
    return found


async def test_admins_write_templates_and_users_read_only_published_ones(personas: Personas, people: People) -> None:
    published = await personas.template(people.admin, name="Support agent", category="support", tags=["help"],
                                        system_prompt="You help {{product}} users.",
                                        config=config(temperature=0.2, variables={"product": "AgentMesh"}))
    draft = await personas.template(people.admin, name="Unreleased", published=False)
    assert published.version == 1 and published.created_by == people.admin.user_id
    assert published.config["temperature"] == 0.2

    await fails(personas.templates.CreateTemplate(persona_pb2.CreateTemplateRequest(name="mine"),
                                                  metadata=people.alice.metadata), grpc.StatusCode.PERMISSION_DENIED)
    seen = await personas.templates.ListTemplates(persona_pb2.ListTemplatesRequest(), metadata=people.alice.metadata)
    assert [t.template_id for t in seen.templates] == [published.template_id]
    await fails(personas.templates.GetTemplate(persona_pb2.GetTemplateRequest(template_id=draft.template_id),
                                               metadata=people.alice.metadata), grpc.StatusCode.NOT_FOUND)
    everything = await personas.templates.ListTemplates(persona_pb2.ListTemplatesRequest(),
                                                        metadata=people.admin.metadata)
    assert {t.name for t in everything.templates} == {"Support agent", "Unreleased"}
    assert everything.total_size == 2
    by_tag = await personas.templates.ListTemplates(persona_pb2.ListTemplatesRequest(tag="help"),
                                                    metadata=people.admin.metadata)
    by_category = await personas.templates.ListTemplates(
        persona_pb2.ListTemplatesRequest(category="nothing"), metadata=people.admin.metadata)
    assert [t.name for t in by_tag.templates] == ["Support agent"] and not by_category.templates


async def test_names_are_unique_whatever_their_case(personas: Personas, people: People) -> None:
    await personas.template(people.admin, name="Coder")
    err = await fails(personas.templates.CreateTemplate(persona_pb2.CreateTemplateRequest(name="coder"),
                                                        metadata=people.admin.metadata),
                      grpc.StatusCode.ALREADY_EXISTS)
    assert "coder" in (err.details() or "")


async def test_an_invalid_configuration_is_refused_with_every_problem(personas: Personas, people: People) -> None:
    err = await fails(personas.templates.CreateTemplate(persona_pb2.CreateTemplateRequest(
        name="", provider="Open AI", config=config(temperature=7, max_tokens=0.5, custom_knob=1)),
        metadata=people.admin.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    found = violations(err)
    assert set(found) == {"name", "provider", "config.temperature", "config.max_tokens"}  # the warning refuses nothing
    listed = await personas.templates.ListTemplates(persona_pb2.ListTemplatesRequest(), metadata=people.admin.metadata)
    assert listed.total_size == 0


async def test_an_update_raises_the_version_and_a_mask_limits_it(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Writer", description="first")
    reply = await personas.templates.UpdateTemplate(persona_pb2.UpdateTemplateRequest(
        template_id=template.template_id, description="second", model="big", name="ignored",
        update_mask=field_mask_pb2.FieldMask(paths=["description", "model"])), metadata=people.admin.metadata)
    assert (reply.template.description, reply.template.model, reply.template.name) == ("second", "big", "Writer")
    assert reply.template.version == 2
    err = await fails(personas.templates.UpdateTemplate(persona_pb2.UpdateTemplateRequest(
        template_id=template.template_id, config=config(top_p=3)), metadata=people.admin.metadata),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "config.top_p" in violations(err)
    got = await personas.templates.GetTemplate(persona_pb2.GetTemplateRequest(template_id=template.template_id),
                                               metadata=people.admin.metadata)
    assert got.template.version == 2 and not got.template.config


async def test_clone_copies_under_a_new_name_unpublished(personas: Personas, people: People) -> None:
    source = await personas.template(people.admin, name="Tutor", system_prompt="Teach.", config=config(temperature=1))
    copy = (await personas.templates.CloneTemplate(persona_pb2.CloneTemplateRequest(template_id=source.template_id),
                                                   metadata=people.admin.metadata)).template
    assert copy.name == "Tutor (copy)" and copy.template_id != source.template_id
    assert (copy.system_prompt, copy.config["temperature"], copy.published, copy.version) == ("Teach.", 1, False, 1)
    await fails(personas.templates.CloneTemplate(persona_pb2.CloneTemplateRequest(
        template_id=source.template_id, name="tutor"), metadata=people.admin.metadata),
        grpc.StatusCode.ALREADY_EXISTS)


async def test_validate_lists_errors_and_warnings_and_writes_nothing(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Checked", system_prompt="Hi {{name}}")
    stored = await personas.templates.ValidateTemplate(
        persona_pb2.ValidateTemplateRequest(template_id=template.template_id), metadata=people.admin.metadata)
    assert stored.valid and [(p.field, p.severity) for p in stored.problems] == [("system_prompt", "warning")]
    proposed = await personas.templates.ValidateTemplate(persona_pb2.ValidateTemplateRequest(
        template_id=template.template_id, config=config(temperature=-1, variables={"name": "Ada"})),
        metadata=people.admin.metadata)
    assert not proposed.valid
    assert [(p.field, p.severity) for p in proposed.problems] == [("config.temperature", "error")]
    got = await personas.templates.GetTemplate(persona_pb2.GetTemplateRequest(template_id=template.template_id),
                                               metadata=people.admin.metadata)
    assert got.template.version == 1 and not got.template.config


async def test_a_template_in_use_is_deleted_only_with_force(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Used")
    instance = await personas.instance(people.alice, template.template_id)
    err = await fails(personas.templates.DeleteTemplate(persona_pb2.DeleteTemplateRequest(
        template_id=template.template_id), metadata=people.admin.metadata), grpc.StatusCode.FAILED_PRECONDITION)
    assert "1 instance" in (err.details() or "")
    await personas.templates.DeleteTemplate(persona_pb2.DeleteTemplateRequest(
        template_id=template.template_id, force=True), metadata=people.admin.metadata)
    await fails(personas.templates.GetTemplate(persona_pb2.GetTemplateRequest(template_id=template.template_id),
                                               metadata=people.admin.metadata), grpc.StatusCode.NOT_FOUND)
    # the instance keeps its copy and still runs
    await personas.execute(people.alice, instance.instance_id, "still here?")
    assert (await personas.settled(people.alice, instance.instance_id)).output == "echo: still here?"
