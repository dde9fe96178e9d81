"""Bot commands in the chat: the real speech unit asks the real admin unit (and the real edge carries the chat)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from agentmesh.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc, speech_pb2, speech_pb2_grpc
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import struct_pb2
from prometheus_client.parser import text_string_to_metric_families

from edge.mesh import create_app
from services.admin.bot_commands import answer_text
from services.admin.wiring import SPEC as ADMIN
from services.common.authctx import user_metadata
from services.common.bootstrap import RunningUnit, start
from services.common.servicecreds import service_secret
from services.common.settings import Settings
from services.speech.chat.commands import UNAVAILABLE, parse
from services.speech.wiring import SPEC as SPEECH
from tests.agent.conftest import env_for
from tests.auth.conftest import Account, auth_channel, auth_unit, signed_in, stack  # noqa: F401
from tests.conftest import free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env_for(tmp_path, AGENTMESH_SUPERVISED="1", LLM_CACHE_TTL="0"))


@dataclass
class Mesh:
    settings: Settings
    admin: RunningUnit
    speech: RunningUnit
    admin_stack: AsyncExitStack
    chat: speech_pb2_grpc.ChatServiceStub
    bot: admin_pb2_grpc.BotAdminServiceStub
    platform: admin_pb2_grpc.PlatformAdminServiceStub
    people: dict[str, Account] = field(default_factory=dict)

    async def say(self, who: str, text: str, conversation_id: str = "") -> speech_pb2.ChatResponse:
        return await self.chat.Chat(speech_pb2.ChatRequest(content=text, conversation_id=conversation_id),
                                    metadata=self.people[who].metadata)

    async def command(self, **fields: Any) -> admin_pb2.BotCommand:
        made = await self.bot.CreateBotCommand(admin_pb2.CreateBotCommandRequest(**fields),
                                               metadata=self.people["admin"].metadata)
        return made.command

    async def counts(self) -> dict[str, int]:
        listed = await self.bot.ListBotCommands(admin_pb2.ListBotCommandsRequest(),
                                                metadata=self.people["admin"].metadata)
        return {c.name: c.invocation_count for c in listed.commands}

    async def system(self, values: dict[str, Any]) -> None:
        config = struct_pb2.Struct()
        config.update(values)
        await self.platform.UpdateSystemConfig(admin_pb2.UpdateSystemConfigRequest(config=config, reason="tests"),
                                               metadata=self.people["admin"].metadata)


async def _counter(unit: RunningUnit, name: str, **labels: str) -> float:
    """A counter's value on the unit's /metrics page (0 when the series does not exist yet)."""
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{unit.metrics_port}/metrics") as page:
        text = await page.text()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


async def invocations(mesh: Mesh) -> float:
    return await _counter(mesh.admin, "grpc_server_started_total", grpc_service="agentmesh.v1.BotAdminService",
                          grpc_method="InvokeBotCommand")


async def model_calls(mesh: Mesh) -> float:
    return await _counter(mesh.speech, "agentmesh_llm_provider_calls_total", provider="echo")


@pytest.fixture
async def mesh(settings: Settings, stack: AsyncExitStack, auth_unit: RunningUnit,  # noqa: F811
               auth_channel: grpc.aio.Channel) -> AsyncIterator[Mesh]:  # noqa: F811
    """The auth, admin and speech units at their configured addresses, as they find each other in production."""
    admin_stack = AsyncExitStack()
    stack.push_async_callback(admin_stack.aclose)
    admin = await start(ADMIN, settings, admin_stack, port=settings.ports["admin"], metrics_port=0)
    speech = await start(SPEECH, settings, stack, port=settings.ports["speech"], metrics_port=0)
    async with grpc.aio.insecure_channel(settings.address("admin")) as to_admin, \
            grpc.aio.insecure_channel(settings.address("speech")) as to_speech:
        found = Mesh(settings, admin, speech, admin_stack, speech_pb2_grpc.ChatServiceStub(to_speech),
                     admin_pb2_grpc.BotAdminServiceStub(to_admin), admin_pb2_grpc.PlatformAdminServiceStub(to_admin))
        found.people = {"admin": await signed_in(auth_channel, role="admin"), "alice": await signed_in(auth_channel),
                        "mod": await signed_in(auth_channel, role="moderator")}
        yield found


def test_what_is_a_command() -> None:
    assert parse("/help") == parse("/help  ") and parse("/help") is not None and parse("/help").name == "help"
    called = parse("/Translate fr  good\nmorning ")
    assert called is not None and (called.name, called.args) == ("Translate", "fr  good\nmorning")
    for ordinary in ("help", " /help", "/", "/ help", "/usr/bin is full", "/9lives", "a /help", "//help"):
        assert parse(ordinary) is None, ordinary


async def test_a_reply_command_answers_without_the_model_and_is_counted(mesh: Mesh) -> None:
    await mesh.command(name="ping", description="Checks the bot", response_text="pong")
    before = await model_calls(mesh)
    first = await mesh.say("alice", "/PING")
    assert first.content == "pong" and first.conversation_id
    chunks = [c async for c in mesh.chat.StreamChat(speech_pb2.StreamChatRequest(
        content="/ping now", conversation_id=first.conversation_id), metadata=mesh.people["alice"].metadata)]
    assert "".join(c.content for c in chunks) == "pong" and chunks[-1].done
    assert await model_calls(mesh) == before  # the model was never asked
    assert (await mesh.counts())["ping"] == 2
    together = await asyncio.gather(*(mesh.say("alice", "/ping") for _ in range(10)))
    assert {r.content for r in together} == {"pong"}
    assert (await mesh.counts())["ping"] == 12  # each use counted once, however many at once

    # The turns are the conversation's, like any other: the user's message and the bot's answer.
    messages = await mesh.chat.ListMessages(speech_pb2.ListMessagesRequest(conversation_id=first.conversation_id),
                                            metadata=mesh.people["alice"].metadata)
    assert [(m.role, m.content) for m in messages.messages] == [
        ("user", "/PING"), ("assistant", "pong"), ("user", "/ping now"), ("assistant", "pong")]
    assert messages.messages[3].message_id == chunks[0].message_id and messages.messages[1].usage.total_tokens == 0
    stats = await mesh.bot.GetBotStats(admin_pb2.GetBotStatsRequest(), metadata=mesh.people["admin"].metadata)
    assert stats.command_usage["ping"] == 12


async def test_a_prompt_command_sends_its_template_to_the_model(mesh: Mesh) -> None:
    await mesh.command(name="translate", action="prompt", prompt_template="Translate into French: {{ args }}.")
    await mesh.command(name="summarize", action="prompt", prompt_template="Summarize this:")
    before = await model_calls(mesh)
    reply = await mesh.say("alice", "/translate good morning")
    assert reply.content == "echo: Translate into French: good morning."
    assert (await mesh.say("alice", "/summarize a long story")).content == "echo: Summarize this:\n\na long story"
    assert await model_calls(mesh) == before + 2
    messages = await mesh.chat.ListMessages(speech_pb2.ListMessagesRequest(conversation_id=reply.conversation_id),
                                            metadata=mesh.people["alice"].metadata)
    assert [m.content for m in messages.messages] == ["/translate good morning",
                                                       "echo: Translate into French: good morning."]
    assert messages.messages[1].usage.total_tokens > 0
    assert await mesh.counts() == {"summarize": 1, "translate": 1}


async def test_commands_are_refused_when_disabled_above_the_role_or_unknown(mesh: Mesh) -> None:
    await mesh.command(name="secret", response_text="the vault code", required_role="moderator")
    await mesh.command(name="purge", response_text="purged", required_role="admin")
    await mesh.command(name="old", response_text="gone", enabled=False)
    before = await model_calls(mesh)
    assert (await mesh.say("alice", "/secret")).content == "The command /secret needs the moderator role."
    assert (await mesh.say("mod", "/purge")).content == "The command /purge needs the admin role."
    assert (await mesh.say("alice", "/old")).content == "The command /old is disabled."
    assert (await mesh.say("admin", "/old")).content == "The command /old is disabled."
    unknown = await mesh.say("alice", "/nope me")
    assert unknown.content == "Unknown command /nope. Send /help to see the commands you can use."
    assert await mesh.counts() == {"old": 0, "purge": 0, "secret": 0}  # refusals are not uses
    assert (await mesh.say("mod", "/secret")).content == "the vault code"
    assert (await mesh.say("admin", "/SECRET")).content == "the vault code"  # admin ranks above moderator
    assert (await mesh.say("admin", "/purge")).content == "purged"
    assert await mesh.counts() == {"old": 0, "purge": 1, "secret": 2}
    assert await model_calls(mesh) == before
    messages = await mesh.chat.ListMessages(speech_pb2.ListMessagesRequest(conversation_id=unknown.conversation_id),
                                            metadata=mesh.people["alice"].metadata)
    assert [m.content for m in messages.messages] == ["/nope me", unknown.content]  # recorded like any turn


async def test_help_lists_what_the_user_may_run(mesh: Mesh) -> None:
    await mesh.command(name="ping", description="Checks the bot", response_text="pong")
    await mesh.command(name="translate", action="prompt", prompt_template="Translate {{args}}",
                       description="Translates text", usage="/translate <language> <text>")
    await mesh.command(name="weather", description="Tomorrow's weather", usage="<city>", response_text="sunny")
    await mesh.command(name="secret", description="Moderators only", response_text="x", required_role="moderator")
    await mesh.command(name="old", description="Retired", response_text="x", enabled=False)
    listing = (await mesh.say("alice", "/help")).content
    assert listing.splitlines() == ["Commands you can use:", "/help — lists the commands you can use",
                                    "/ping — Checks the bot", "/translate <language> <text> — Translates text",
                                    "/weather <city> — Tomorrow's weather"]
    assert "/secret — Moderators only" in (await mesh.say("mod", "/HELP")).content.splitlines()
    # An operator's own help command replaces the built-in one.
    await mesh.command(name="help", response_text="Ask a moderator.")
    assert (await mesh.say("alice", "/help")).content == "Ask a moderator."
    assert (await mesh.counts())["help"] == 1


@dataclass
class Receiver:
    """An outside service a webhook command calls."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(await request.json())
        kind = request.match_info["kind"]
        if kind == "json":
            return web.json_response({"text": f"Weather in {self.calls[-1]['args']}: sunny", "extra": 1})
        if kind == "plain":
            return web.Response(text="x" * 5000)
        if kind == "slow":
            await asyncio.sleep(3)
            return web.Response(text="too late")
        return web.json_response({"detail": "broken"}, status=500)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{kind}", found.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        found.url = str(server.make_url("/hooks"))
        yield found


async def test_a_webhook_command_relays_the_receivers_answer(mesh: Mesh, receiver: Receiver) -> None:
    await mesh.command(name="weather", action="webhook", webhook_url=f"{receiver.url}/json")
    alice = mesh.people["alice"]
    refused = await mesh.say("alice", "/weather Paris")
    assert refused.content == "The command /weather failed: its webhook address is not allowed."
    assert receiver.calls == []  # loopback is out of reach until the operators allow private networks

    await mesh.system({"integrations.allow_private_networks": True, "integrations.timeout_seconds": 1})
    reply = await mesh.say("alice", "/weather Paris", refused.conversation_id)
    assert reply.content == "Weather in Paris: sunny"
    call = receiver.calls[-1]
    assert {k: call[k] for k in ("command", "args", "user_id", "tenant_id", "role", "conversation_id")} == {
        "command": "weather", "args": "Paris", "user_id": alice.user_id, "tenant_id": alice.tenant_id,
        "role": "user", "conversation_id": refused.conversation_id}

    await mesh.command(name="essay", action="webhook", webhook_url=f"{receiver.url}/plain")
    long = (await mesh.say("alice", "/essay")).content
    assert len(long) == 4000 and long.startswith("xxx") and long.endswith("…")  # cut to a sane size
    await mesh.command(name="broken", action="webhook", webhook_url=f"{receiver.url}/broken")
    assert (await mesh.say("alice", "/broken")).content == "The command /broken failed: its webhook answered HTTP 500."
    await mesh.command(name="slow", action="webhook", webhook_url=f"{receiver.url}/slow")
    assert (await mesh.say("alice", "/slow")).content == \
        "The command /slow failed: its webhook did not answer within 1s."
    await mesh.command(name="gone", action="webhook", webhook_url=f"http://127.0.0.1:{free_port()}/hooks")
    assert (await mesh.say("alice", "/gone")).content == "The command /gone failed: its webhook could not be reached."
    assert await mesh.counts() == {"broken": 1, "essay": 1, "gone": 1, "slow": 1, "weather": 2}


async def test_ordinary_messages_go_to_the_model_without_asking_the_admin_unit(mesh: Mesh) -> None:
    await mesh.command(name="ping", response_text="pong")
    before = await model_calls(mesh)
    for text in ("hello", "/usr/bin is full", "what does /ping do?"):
        assert (await mesh.say("alice", text)).content == f"echo: {text}"
    assert await model_calls(mesh) == before + 3
    assert await invocations(mesh) == 0
    assert (await mesh.say("alice", "/ping")).content == "pong"
    assert await invocations(mesh) == 1


async def test_an_unreachable_admin_unit_is_an_error_turn(mesh: Mesh) -> None:
    await mesh.command(name="ping", response_text="pong")
    first = await mesh.say("alice", "/ping")
    await mesh.admin_stack.aclose()
    down = await mesh.say("alice", "/ping", first.conversation_id)
    assert down.content == UNAVAILABLE
    chunks = [c async for c in mesh.chat.StreamChat(speech_pb2.StreamChatRequest(content="/help"),
                                                    metadata=mesh.people["alice"].metadata)]
    assert "".join(c.content for c in chunks) == UNAVAILABLE and chunks[-1].done
    assert (await mesh.say("alice", "hello", first.conversation_id)).content == "echo: hello"
    messages = await mesh.chat.ListMessages(speech_pb2.ListMessagesRequest(conversation_id=first.conversation_id),
                                            metadata=mesh.people["alice"].metadata)
    assert [m.content for m in messages.messages] == ["/ping", "pong", "/ping", UNAVAILABLE, "hello", "echo: hello"]


async def test_someone_elses_conversation_runs_nothing(mesh: Mesh) -> None:
    await mesh.command(name="ping", response_text="pong")
    mine = await mesh.say("alice", "hello")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await mesh.say("mod", "/ping", mine.conversation_id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await mesh.counts())["ping"] == 0


async def test_invoke_is_for_units_acting_for_a_user(mesh: Mesh, auth_channel: grpc.aio.Channel) -> None:  # noqa: F811
    await mesh.command(name="ping", response_text="pong")
    await mesh.command(name="ask", action="prompt", prompt_template="Q: {{args}}", required_role="admin")
    issued = await auth_pb2_grpc.AuthServiceStub(auth_channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="speech", secret=service_secret(mesh.settings)))
    service = [("authorization", f"Bearer {issued.access_token}")]
    for_admin = [*service, *user_metadata(mesh.people["admin"].user_id, mesh.people["admin"].tenant_id, "admin",
                                          "", "", ())]
    ping = await mesh.bot.InvokeBotCommand(admin_pb2.InvokeBotCommandRequest(name="Ping"), metadata=for_admin)
    assert (ping.found, ping.accepted, ping.action, ping.WhichOneof("answer"), ping.reply_text,
            ping.invocation_count) == (True, True, "reply", "reply_text", "pong", 1)
    ask = await mesh.bot.InvokeBotCommand(admin_pb2.InvokeBotCommandRequest(name="ask", args=" why? "),
                                          metadata=for_admin)
    assert (ask.action, ask.WhichOneof("answer"), ask.prompt) == ("prompt", "prompt", "Q: why?")
    unknown = await mesh.bot.InvokeBotCommand(admin_pb2.InvokeBotCommandRequest(name="nope"), metadata=for_admin)
    assert (unknown.found, unknown.accepted, unknown.WhichOneof("answer")) == (False, False, "error_message")

    # A user may not call it, nor a unit acting for nobody.
    for metadata in (mesh.people["admin"].metadata, service):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await mesh.bot.InvokeBotCommand(admin_pb2.InvokeBotCommandRequest(name="ping"), metadata=metadata)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await mesh.counts() == {"ask": 1, "ping": 1}


def test_what_a_webhook_answered() -> None:
    assert answer_text(b'{"response": " hi "}', "application/json") == "hi"
    assert answer_text(b'{"text": "a", "response": "b"}', "") == "a"
    assert answer_text(b'{"status": "ok"}', "application/json") == '{"status": "ok"}'
    assert answer_text(b"{not json", "text/plain") == "{not json"
    assert answer_text("caf\u00e9\n".encode(), "text/plain") == "caf\u00e9"


async def test_the_chat_socket_and_rest_run_commands_through_the_edge(mesh: Mesh) -> None:
    await mesh.command(name="ping", response_text="pong")
    alice = mesh.people["alice"]
    headers = {"Authorization": f"Bearer {alice.access_token}"}
    async with TestClient(TestServer(create_app(mesh.settings))) as edge:
        reply = await edge.post("/chat", json={"type": "text", "content": "/ping"}, headers=headers)
        assert reply.status == 200, await reply.text()
        assert (await reply.json())["content"] == "pong"
        async with edge.ws_connect(f"/ws/{alice.user_id}", headers=headers) as socket:
            for text, answer in (("/ping", "pong"), ("/nope", "Unknown command /nope."), ("hi", "echo: hi")):
                await socket.send_json({"type": "text", "content": text})
                frames: list[dict[str, Any]] = []
                while not frames or not frames[-1].get("done"):
                    frames.append(await socket.receive_json(timeout=5))
                assert "".join(f.get("content", "") for f in frames).startswith(answer), frames
    assert (await mesh.counts())["ping"] == 2
