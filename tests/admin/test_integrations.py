"""IntegrationService: signed webhook deliveries of platform events, retries and delivery records.

The receiver is a local aiohttp server standing in for an outside system: it
checks every request's signature and timestamp the way the contract tells
receivers to, refuses what does not verify, and answers what the test asks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from agentmesh.v1 import admin_pb2
from aiohttp import web
from aiohttp.test_utils import TestServer
from google.protobuf import struct_pb2

from tests.admin.console_mesh import Console, auth_unit, console_fixture, eventually, settings  # noqa: F401
from tests.agent.conftest import fails, violations
from tests.auth.conftest import auth_channel, quick_throttle, stack  # noqa: F401


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    """An outside system's webhook endpoint."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        stamp = request.headers.get("X-AgentMesh-Timestamp", "0")
        expected = "v1=" + hmac.new(self.secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
        verified = bool(self.secret) and hmac.compare_digest(request.headers.get("X-AgentMesh-Signature", ""),
                                                             expected) and abs(time.time() - int(stamp)) < 300
        self.got.append(Received(dict(request.headers), json.loads(raw), verified))
        status = (self.answers.pop(0) if self.answers else 200) if verified else 401
        return web.json_response({"received": status < 300}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/agentmesh", found.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        found.url = str(server.make_url("/hooks/agentmesh"))
        yield found


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update(values)
    return config


async def _allow_local_receivers(console: Console) -> None:
    await console.platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=_struct({
        "integrations.allow_private_networks": True, "integrations.retry_delays_seconds": [0.2, 0.2],
        "integrations.timeout_seconds": 2}), reason="local receivers in tests"),
        metadata=console.people["admin"].metadata)


async def test_events_are_delivered_signed_and_retried(console: Console, receiver: Receiver) -> None:
    alice, bob = console.people["alice"], console.people["bob"]
    hooks = console.integrations
    request = admin_pb2.CreateIntegrationRequest(kind="webhook", name="ci", url=receiver.url + "?token=s3cret",
                                                 events=["agent.*"])
    refused = await fails(hooks.CreateIntegration(request, metadata=alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    assert "loopback" in violations(refused)["url"]  # the platform's own network is out of reach by default
    assert (await hooks.ListIntegrations(admin_pb2.ListIntegrationsRequest(), metadata=alice.metadata)).total_size == 0
    await _allow_local_receivers(console)

    created = (await hooks.CreateIntegration(request, metadata=alice.metadata)).integration
    assert created.secret.startswith("whsec_") and created.has_secret  # shown this once
    assert created.url.endswith("/hooks/agentmesh?token=****") and "s3cret" not in str(created)
    assert (created.kind, created.status, created.enabled, created.tenant_id) == (
        "webhook", "active", True, alice.tenant_id)
    receiver.secret = created.secret
    shown = (await hooks.GetIntegration(admin_pb2.GetIntegrationRequest(integration_id=created.integration_id),
                                        metadata=alice.metadata)).integration
    assert shown.secret == "" and shown.has_secret
    await fails(hooks.GetIntegration(admin_pb2.GetIntegrationRequest(integration_id=created.integration_id),
                                     metadata=bob.metadata), grpc.StatusCode.NOT_FOUND)

    receiver.answers = [503]  # the first attempt finds the receiver down, the retry gets through
    await console.agent(bob, "not alice's")  # another tenant's event: never delivered here
    agent_id = await console.agent(alice, running=False)

    async def deliveries(**fields: Any) -> admin_pb2.ListIntegrationDeliveriesResponse:
        return await hooks.ListIntegrationDeliveries(admin_pb2.ListIntegrationDeliveriesRequest(
            integration_id=created.integration_id, **fields), metadata=alice.metadata)

    done = await eventually(deliveries, lambda r: r.total_size == 1 and r.deliveries[0].status == "succeeded")
    delivery = done.deliveries[0]
    assert (delivery.event_type, delivery.attempts, delivery.response_status_code) == ("agent.created", 2, 200)
    assert delivery.delivered_at.seconds and delivery.latency_ms > 0 and not delivery.test
    assert [r.headers["X-AgentMesh-Delivery"] for r in receiver.got] == [delivery.delivery_id] * 2
    assert all(r.verified for r in receiver.got)
    body = receiver.got[-1].body
    assert (body["type"], body["tenant_id"], body["data"]["agent_id"]) == ("agent.created", alice.tenant_id, agent_id)
    assert body["delivery_id"] == delivery.delivery_id and body["test"] is False
    assert receiver.got[0].headers["X-AgentMesh-Timestamp"] and receiver.got[0].headers["X-AgentMesh-Event"] == \
        "agent.created"

    tested = (await hooks.TestIntegration(admin_pb2.TestIntegrationRequest(
        integration_id=created.integration_id, data=_struct({"hello": "world"})), metadata=alice.metadata)).delivery
    assert (tested.status, tested.test, tested.attempts, tested.event_type) == (
        "succeeded", True, 1, "integration.test")
    assert receiver.got[-1].body["data"] == {"hello": "world"} and receiver.got[-1].body["test"] is True

    # A refusal that retrying cannot fix fails at once and marks the integration failing.
    receiver.answers = [422]
    failed = (await hooks.TestIntegration(admin_pb2.TestIntegrationRequest(integration_id=created.integration_id),
                                          metadata=alice.metadata)).delivery
    assert (failed.status, failed.attempts, failed.response_status_code, failed.error) == (
        "failed", 1, 422, "HTTP 422")
    assert json.loads(failed.response_body) == {"received": False}
    after = (await hooks.GetIntegration(admin_pb2.GetIntegrationRequest(integration_id=created.integration_id),
                                        metadata=alice.metadata)).integration
    assert (after.status, after.failure_count) == ("failing", 1) and after.last_delivery_at.seconds
    assert (await deliveries(status="failed")).total_size == 1
    assert (await deliveries(filter="response_status_code>=400")).total_size == 1
    assert (await deliveries(event_type="agent.created")).total_size == 1

    # A rotated secret: the receiver that still checks the old one refuses, and the delivery says so.
    await hooks.UpdateIntegration(admin_pb2.UpdateIntegrationRequest(
        integration_id=created.integration_id, secret="a-brand-new-secret-0123"), metadata=alice.metadata)
    stale = (await hooks.TestIntegration(admin_pb2.TestIntegrationRequest(integration_id=created.integration_id),
                                         metadata=alice.metadata)).delivery
    assert stale.status == "failed" and stale.response_status_code == 401
    await hooks.DeleteIntegration(admin_pb2.DeleteIntegrationRequest(integration_id=created.integration_id),
                                  metadata=alice.metadata)
    await fails(deliveries(), grpc.StatusCode.NOT_FOUND)


async def test_a_receiver_that_stays_down_fails_after_the_last_retry(console: Console, receiver: Receiver) -> None:
    alice = console.people["alice"]
    await _allow_local_receivers(console)
    created = (await console.integrations.CreateIntegration(admin_pb2.CreateIntegrationRequest(
        kind="webhook", name="flaky", url=receiver.url, events=["system.maintenance"]),
        metadata=alice.metadata)).integration  # nothing here toggles maintenance: only the test delivery is sent
    receiver.secret = created.secret
    receiver.answers = [500, 502, 503]
    first = (await console.integrations.TestIntegration(admin_pb2.TestIntegrationRequest(
        integration_id=created.integration_id), metadata=alice.metadata)).delivery
    assert (first.status, first.attempts, first.error) == ("retrying", 1, "HTTP 500") and first.next_retry_at.seconds

    async def latest() -> admin_pb2.Delivery:
        listed = await console.integrations.ListIntegrationDeliveries(admin_pb2.ListIntegrationDeliveriesRequest(
            integration_id=created.integration_id), metadata=alice.metadata)
        return next(d for d in listed.deliveries if d.delivery_id == first.delivery_id)

    final = await eventually(latest, lambda d: d.status == "failed")
    assert (final.attempts, final.response_status_code) == (3, 503) and len(receiver.got) == 3


async def test_integrations_refuse_what_they_cannot_do(console: Console) -> None:
    alice, admin = console.people["alice"], console.people["admin"]
    hooks = console.integrations

    async def refused(**fields: Any) -> set[str]:
        err = await fails(hooks.CreateIntegration(admin_pb2.CreateIntegrationRequest(**fields),
                                                  metadata=alice.metadata), grpc.StatusCode.INVALID_ARGUMENT)
        return set(violations(err))

    assert await refused(kind="webhook", name="x", url="ftp://example.com", events=["tsak.*", "Task!"],
                         config=_struct({"headers": {"Host": "evil"}, "colour": 1}), secret="short") == {
        "url", "events[0]", "events[1]", "config.headers.Host", "config.colour", "secret"}
    assert await refused(kind="slack", name="chat", url="http://hooks.example.com/services/T/B/X") == {"url"}
    assert await refused(kind="teams", name="t", url="https://10.1.2.3/webhook") == {"url"}
    assert await refused(kind="fax", name="") == {"kind", "name"}
    await fails(hooks.CreateIntegration(admin_pb2.CreateIntegrationRequest(
        kind="email", name="mail", config=_struct({"to": ["a@b.c"]})), metadata=alice.metadata),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert (await hooks.ListIntegrations(admin_pb2.ListIntegrationsRequest(), metadata=alice.metadata)).total_size == 0

    slack = (await hooks.CreateIntegration(admin_pb2.CreateIntegrationRequest(
        kind="slack", name="Alerts", url="https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        events=["task.failed", "workflow.run.failed"], config=_struct({"template": "{{type}}: {{data.error}}"})),
        metadata=alice.metadata)).integration
    assert slack.url == "https://hooks.slack.com/services/****" and not slack.has_secret and slack.secret == ""
    await fails(hooks.CreateIntegration(admin_pb2.CreateIntegrationRequest(
        kind="webhook", name="ALERTS", url="https://example.com/hook"), metadata=alice.metadata),
        grpc.StatusCode.ALREADY_EXISTS)
    # Another member of the platform (here: an admin of another tenant) sees nothing of alice's tenant.
    assert (await hooks.ListIntegrations(admin_pb2.ListIntegrationsRequest(),
                                         metadata=admin.metadata)).total_size == 0
    await fails(hooks.UpdateIntegration(admin_pb2.UpdateIntegrationRequest(
        integration_id=slack.integration_id, url="https://hooks.slack.com/services/****"), metadata=alice.metadata),
        grpc.StatusCode.INVALID_ARGUMENT)
    disabled = (await hooks.UpdateIntegration(admin_pb2.UpdateIntegrationRequest(
        integration_id=slack.integration_id, enabled=False), metadata=alice.metadata)).integration
    assert (disabled.status, disabled.enabled, disabled.url) == ("disabled", False, slack.url)
    listed = await hooks.ListIntegrations(admin_pb2.ListIntegrationsRequest(kind="slack", enabled=False),
                                          metadata=alice.metadata)
    assert [i.name for i in listed.integrations] == ["Alerts"]
    await fails(hooks.ListIntegrations(admin_pb2.ListIntegrationsRequest(kind="pigeon"), metadata=alice.metadata),
                grpc.StatusCode.INVALID_ARGUMENT)
