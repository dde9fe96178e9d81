"""PersonaInstanceService on the real persona unit: instances, executions through the speech unit, stop, logs, feeds."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, persona_pb2

from services.common.bootstrap import open_database
from services.persona.model import render
from tests.persona.conftest import People, Personas, Watch, fails, violations
from tests.persona.test_templates import config
from tests.speech.openai_server import Failure, FakeOpenAi


async def test_an_instance_is_the_template_copy_with_allowed_overrides(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Analyst", overridable_keys=["temperature", "variables"],
                                       config=config(temperature=0.3, max_tokens=200, variables={"tone": "dry"}))
    instance = await personas.instance(people.alice, template.template_id, name="My analyst",
                                       overrides=config(temperature=0.9, variables={"topic": "sales"}))
    assert (instance.status, instance.owner_id, instance.template_version) == ("idle", people.alice.user_id, 1)
    assert dict(instance.effective_config) == {"temperature": 0.9, "max_tokens": 200,
                                               "variables": {"tone": "dry", "topic": "sales"}}
    err = await fails(personas.instances.CreateInstance(persona_pb2.CreateInstanceRequest(
        template_id=template.template_id, overrides=config(max_tokens=5, temperature=9)),
        metadata=people.alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    assert set(violations(err)) == {"overrides.max_tokens", "overrides.temperature"}

    await personas.templates.UpdateTemplate(persona_pb2.UpdateTemplateRequest(
        template_id=template.template_id, config=config(temperature=0.1)), metadata=people.admin.metadata)
    kept = await personas.instances.GetInstance(persona_pb2.GetInstanceRequest(instance_id=instance.instance_id),
                                                metadata=people.alice.metadata)
    assert kept.instance.template_version == 1 and kept.instance.effective_config["max_tokens"] == 200

    updated = await personas.instances.UpdateInstance(persona_pb2.UpdateInstanceRequest(
        instance_id=instance.instance_id, name="Renamed", overrides=config(temperature=0.5)),
        metadata=people.alice.metadata)
    assert updated.instance.name == "Renamed" and updated.instance.effective_config["temperature"] == 0.5
    assert dict(updated.instance.effective_config["variables"]) == {"tone": "dry"}


async def test_instances_are_their_owners_and_their_tenant_admins(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Private")
    draft = await personas.template(people.admin, name="Draft", published=False)
    mine = await personas.instance(people.alice, template.template_id)
    await fails(personas.instances.CreateInstance(persona_pb2.CreateInstanceRequest(template_id=draft.template_id),
                                                  metadata=people.alice.metadata), grpc.StatusCode.NOT_FOUND)
    for other in (people.bob, people.carol):  # another tenant; a colleague in the same tenant
        ask = persona_pb2.GetInstanceRequest(instance_id=mine.instance_id)
        await fails(personas.instances.GetInstance(ask, metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
        await fails(personas.instances.ExecuteInstance(persona_pb2.ExecuteInstanceRequest(
            instance_id=mine.instance_id, input="hi"), metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
        await fails(personas.instances.DeleteInstance(persona_pb2.DeleteInstanceRequest(
            instance_id=mine.instance_id), metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
        listed = await personas.instances.ListInstances(persona_pb2.ListInstancesRequest(), metadata=other.metadata)
        assert listed.total_size == 0
    listed = await personas.instances.ListInstances(persona_pb2.ListInstancesRequest(status="idle"),
                                                    metadata=people.alice.metadata)
    assert [i.instance_id for i in listed.instances] == [mine.instance_id]
    await fails(personas.instances.ListInstances(persona_pb2.ListInstancesRequest(status="asleep"),
                                                 metadata=people.alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)


async def test_an_execution_runs_the_persona_through_the_speech_unit(
    personas: Personas, people: People, openai_server: FakeOpenAi
) -> None:
    template = await personas.template(
        people.admin, name="Guide", provider="openai", model="fake-small",
        system_prompt="You are {{name}}, guide of {{city}}. {{unknown}} stays.",
        config=config(temperature=0.4, max_tokens=50, variables={"city": "Lyon"}, top_p=0.5))
    instance = await personas.instance(people.alice, template.template_id)
    queued = await personas.execute(people.alice, instance.instance_id, "Where should I eat?",
                                    variables=config(name="Ada"), parameters=config(temperature=0.8))
    assert queued.status == "queued" and queued.provider == "openai"
    done = await personas.settled(people.alice, instance.instance_id)
    assert done.status == "completed" and done.progress == 100
    assert done.output == "The fake model heard: Where should I eat?"
    assert done.usage.total_tokens > 0 and done.duration_seconds > 0 and done.model == "fake-small"
    sent = openai_server.completions()[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "You are Ada, guide of Lyon. {{unknown}} stays."}
    assert (sent["temperature"], sent["max_tokens"], sent["top_p"]) == (0.8, 50, 0.5)
    after = await personas.instances.GetInstance(persona_pb2.GetInstanceRequest(instance_id=instance.instance_id),
                                                 metadata=people.alice.metadata)
    assert (after.instance.status, after.instance.execution_count, after.instance.current_execution_id) == \
        ("idle", 1, "")
    logs = await personas.instances.GetInstanceLogs(persona_pb2.GetInstanceLogsRequest(
        instance_id=instance.instance_id, execution_id=done.execution_id), metadata=people.alice.metadata)
    assert [e.message for e in logs.entries] == ["execution queued", "execution started", "calling the model",
                                                 "execution completed"]
    assert all(e.subject_id == done.execution_id for e in logs.entries)


async def test_a_failing_model_fails_the_execution_and_the_instance(
    personas: Personas, people: People, openai_server: FakeOpenAi
) -> None:
    template = await personas.template(people.admin, name="Fragile", provider="openai", model="fake-small")
    instance = await personas.instance(people.alice, template.template_id)
    openai_server.fail_always(Failure(status=401))
    await personas.execute(people.alice, instance.instance_id, "hello")
    done = await personas.settled(people.alice, instance.instance_id)
    assert done.status == "failed" and done.error.startswith("speech unit:")
    got = await personas.instances.GetInstance(persona_pb2.GetInstanceRequest(instance_id=instance.instance_id),
                                               metadata=people.alice.metadata)
    assert got.instance.status == "failed"
    errors = await personas.instances.GetInstanceLogs(persona_pb2.GetInstanceLogsRequest(
        instance_id=instance.instance_id, level="error"), metadata=people.alice.metadata)
    assert [e.level for e in errors.entries] == ["error"]
    openai_server.fail_always(None)
    await personas.execute(people.alice, instance.instance_id, "again")  # a failed instance runs again
    assert (await personas.settled(people.alice, instance.instance_id)).status == "completed"


async def test_bad_input_is_refused_and_writes_nothing(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Strict", overridable_keys=["temperature"])
    instance = await personas.instance(people.alice, template.template_id)
    for ask, field in ((persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id, input="  "), "input"),
                       (persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id, input="x" * 100_001),
                        "input"),
                       (persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id, input="hi",
                                                           parameters=config(temperature="hot")),
                        "parameters.temperature"),
                       (persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id, input="hi",
                                                           parameters=config(max_tokens=5)),
                        "parameters.max_tokens"),
                       (persona_pb2.ExecuteInstanceRequest(instance_id=instance.instance_id, input="hi",
                                                           variables=config(name={"nested": 1})),
                        "variables")):
        err = await fails(personas.instances.ExecuteInstance(ask, metadata=people.alice.metadata),
                          grpc.StatusCode.INVALID_ARGUMENT)
        assert field in violations(err)
    assert await personas.history(people.alice, instance.instance_id) == []
    err = await fails(personas.instances.GetInstanceLogs(persona_pb2.GetInstanceLogsRequest(
        instance_id=instance.instance_id, level="loud"), metadata=people.alice.metadata),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert "level" in violations(err)


async def test_stop_cancels_the_running_execution_at_once(
    personas: Personas, people: People, openai_server: FakeOpenAi
) -> None:
    template = await personas.template(people.admin, name="Slow", provider="openai", model="fake-small")
    instance = await personas.instance(people.alice, template.template_id)
    openai_server.fail_next(Failure(delay=30))
    execution = await personas.execute(people.alice, instance.instance_id, "take your time")
    await _until(lambda: len(openai_server.completions()) == 1)
    await fails(personas.instances.ExecuteInstance(persona_pb2.ExecuteInstanceRequest(
        instance_id=instance.instance_id, input="me too"), metadata=people.alice.metadata),
        grpc.StatusCode.FAILED_PRECONDITION)
    began = time.monotonic()
    stopped = await personas.instances.StopInstance(persona_pb2.StopInstanceRequest(
        instance_id=instance.instance_id, reason="changed my mind"), metadata=people.alice.metadata)
    assert time.monotonic() - began < 1.0
    assert (stopped.instance.status, stopped.instance.current_execution_id) == ("stopped", "")
    [last] = await personas.history(people.alice, instance.instance_id)
    assert (last.execution_id, last.status, last.error) == (execution.execution_id, "stopped", "changed my mind")
    again = await personas.instances.StopInstance(persona_pb2.StopInstanceRequest(instance_id=instance.instance_id),
                                                  metadata=people.alice.metadata)
    assert again.instance.status == "stopped"


async def test_watch_streams_the_instance_and_resumes_after_an_event(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Watched")
    instance = await personas.instance(people.alice, template.template_id)
    call = personas.instances.WatchInstance(persona_pb2.WatchInstanceRequest(instance_id=instance.instance_id),
                                            metadata=people.alice.metadata)
    first = (await call.read()).event
    assert first.type == "instance.snapshot" and first.data["status"] == "idle"
    execution = await personas.execute(people.alice, instance.instance_id, "watch me")
    frames = [(await asyncio.wait_for(call.read(), 5)).event for _ in range(5)]
    assert [f.type for f in frames] == ["instance.status.changed", "execution.started", "execution.progress",
                                        "execution.completed", "instance.status.changed"]
    assert frames[0].data["new_status"] == "running" and frames[4].data["new_status"] == "idle"
    assert frames[3].data["output"] == "echo: watch me" and frames[3].execution_id == execution.execution_id
    call.cancel()

    resumed = personas.instances.WatchInstance(persona_pb2.WatchInstanceRequest(
        instance_id=instance.instance_id, last_event_id=frames[2].event_id), metadata=people.alice.metadata)
    assert (await resumed.read()).event.type == "execution.completed"
    await personas.instances.DeleteInstance(persona_pb2.DeleteInstanceRequest(instance_id=instance.instance_id),
                                            metadata=people.alice.metadata)
    rest = []
    while (reply := await asyncio.wait_for(resumed.read(), 5)) is not grpc.aio.EOF:
        rest.append(reply.event.type)
    assert rest == ["instance.status.changed", "instance.deleted"]
    await fails(personas.instances.GetInstance(persona_pb2.GetInstanceRequest(instance_id=instance.instance_id),
                                               metadata=people.alice.metadata), grpc.StatusCode.NOT_FOUND)


async def test_status_changes_reach_the_owner_through_the_event_hub(personas: Personas, people: People) -> None:
    template = await personas.template(people.admin, name="Announced")
    instance = await personas.instance(people.alice, template.template_id)
    hub = admin_pb2_grpc.EventServiceStub(personas.hub)

    def watch(who: Any) -> Watch:
        return Watch(hub.WatchEvents(admin_pb2.WatchEventsRequest(patterns=["instance.status.*", "execution.*"]),
                                     metadata=who.metadata))

    alice, carol = watch(people.alice), watch(people.carol)
    await asyncio.sleep(0.3)  # both subscriptions are open
    await personas.execute(people.alice, instance.instance_id, "announce")
    got = await alice.next(5)
    assert [e.type for e in got] == ["instance.status.changed", "execution.started", "execution.progress",
                                     "execution.completed", "instance.status.changed"]
    assert got[0].data["instance_id"] == instance.instance_id and got[0].data["previous_status"] == "idle"
    assert await carol.quiet() == []  # the instance is Alice's alone


async def test_a_restart_runs_queued_executions_and_settles_interrupted_ones(personas: Personas,
                                                                             people: People) -> None:
    template = await personas.template(people.admin, name="Durable")
    instances = [await personas.instance(people.alice, template.template_id) for _ in range(3)]
    executions = [await personas.execute(people.alice, i.instance_id, f"job {n}") for n, i in enumerate(instances)]
    for instance in instances:
        await personas.settled(people.alice, instance.instance_id)
    await personas.unit.drain(0)
    # what a crash leaves: one execution queued, one running on its first attempt, one on its last, the running
    # ones held by an executor whose lease is gone
    db = await open_database(personas.settings, "persona")
    try:
        for (status, attempts), execution in zip((("queued", 0), ("running", 1), ("running", 2)), executions,
                                                 strict=True):
            await db.execute("UPDATE executions SET status = ?, attempts = ?, output = '', finished_at = NULL,"
                             " runner_id = 'runner_crashed' WHERE execution_id = ?",
                             (status, attempts, execution.execution_id))
            await db.execute("UPDATE instances SET status = 'running', current_execution_id = ?"
                             " WHERE instance_id = ?", (execution.execution_id, execution.instance_id))
    finally:
        await db.close()
    _, own = await personas.start_unit()
    async with own:
        outcomes = [await personas.settled(people.alice, i.instance_id) for i in instances]
        assert [(e.status, e.output, e.error) for e in outcomes] == [
            ("completed", "echo: job 0", ""), ("completed", "echo: job 1", ""),
            ("failed", "", "interrupted by a restart")]
        statuses = [(await personas.instances.GetInstance(persona_pb2.GetInstanceRequest(
            instance_id=i.instance_id), metadata=people.alice.metadata)).instance.status for i in instances]
        assert statuses == ["idle", "idle", "failed"]


def test_placeholders_are_filled_from_variables() -> None:
    assert render("{{a}} {{ b }} {{c}} {{d}}", {"a": "x", "b": 2.0, "c": True}) == "x 2 true {{d}}"
    assert json.loads(json.dumps(render("{{a}}", {"a": 1.5}))) == "1.5"


async def _until(check: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)

