"""ChatService and ConversationAdminService on the real speech unit (and the real edge for seed 003's paths)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import speech_pb2, speech_pb2_grpc
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.bootstrap import RunningUnit
from services.common.settings import Settings
from tests.auth.conftest import Account, signed_in
from tests.conftest import free_port
from tests.speech.conftest import Speech, StartSpeech
from tests.speech.openai_server import Failure, FakeOpenAi


@pytest.fixture
async def speech(start_speech: StartSpeech, openai_server: FakeOpenAi) -> Speech:
    return await start_speech(OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-test-0123456789abcdefghij",
                              LLM_CACHE_TTL="0")


def chat(speech: Speech) -> speech_pb2_grpc.ChatServiceStub:
    return speech_pb2_grpc.ChatServiceStub(speech.channel)


def admin_stub(speech: Speech) -> speech_pb2_grpc.ConversationAdminServiceStub:
    return speech_pb2_grpc.ConversationAdminServiceStub(speech.channel)


async def fails(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return info.value


async def test_seed_003_chat_starts_and_continues_a_conversation(speech: Speech, account: Account) -> None:
    first = await chat(speech).Chat(speech_pb2.ChatRequest(type="text", content="Hello!"), metadata=account.metadata)
    assert (first.type, first.content) == ("text", "echo: Hello!")
    assert first.conversation_id and first.message_id
    second = await chat(speech).Chat(speech_pb2.ChatRequest(content="And again", conversation_id=first.conversation_id),
                                     metadata=account.metadata)
    assert second.conversation_id == first.conversation_id
    got = await chat(speech).GetConversation(speech_pb2.GetConversationRequest(
        conversation_id=first.conversation_id), metadata=account.metadata)
    assert (got.conversation.title, got.conversation.message_count) == ("Hello!", 4)
    listed = await chat(speech).ListMessages(speech_pb2.ListMessagesRequest(
        conversation_id=first.conversation_id), metadata=account.metadata)
    assert [(m.role, m.content) for m in listed.messages] == [
        ("user", "Hello!"), ("assistant", "echo: Hello!"), ("user", "And again"), ("assistant", "echo: And again")]
    assert listed.messages[3].message_id == second.message_id
    assert listed.messages[3].usage.prompt_tokens > listed.messages[1].usage.prompt_tokens  # the context counts
    answers = await chat(speech).ListMessages(speech_pb2.ListMessagesRequest(
        conversation_id=first.conversation_id, role="assistant", order_by="created_at desc"),
        metadata=account.metadata)
    assert [m.content for m in answers.messages] == ["echo: And again", "echo: Hello!"]


async def test_the_model_sees_the_conversation_so_far(speech: Speech, account: Account,
                                                      openai_server: FakeOpenAi) -> None:
    first = await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="unused"), metadata=account.metadata)
    assert first.text
    opened = await chat(speech).Chat(speech_pb2.ChatRequest(content="My name is Ada."), metadata=account.metadata)
    await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="What is my name?", provider="openai",
                                                         conversation_id=opened.conversation_id),
                              metadata=account.metadata)
    sent = openai_server.completions()[-1].body["messages"]
    assert sent == [{"role": "user", "content": "My name is Ada."},
                    {"role": "assistant", "content": "echo: My name is Ada."},
                    {"role": "user", "content": "What is my name?"}]


async def test_a_failed_answer_writes_nothing(start_speech: StartSpeech, openai_server: FakeOpenAi,
                                              account: Account) -> None:
    speech = await start_speech(LLM_PROVIDER="openai", OPENAI_BASE_URL=openai_server.base_url,
                                OPENAI_API_KEY="sk-test-0123456789abcdefghij", LLM_CACHE_TTL="0")
    openai_server.fail_always(Failure(status=401))
    await fails(chat(speech).Chat(speech_pb2.ChatRequest(content="hello"), metadata=account.metadata),
                grpc.StatusCode.FAILED_PRECONDITION)
    listed = await chat(speech).ListConversations(speech_pb2.ListConversationsRequest(), metadata=account.metadata)
    assert listed.total_size == 0


async def test_bad_chat_input_is_refused(speech: Speech, account: Account) -> None:
    for request, field in ((speech_pb2.ChatRequest(content="  "), "content"),
                           (speech_pb2.ChatRequest(type="video", content="hi"), "type"),
                           (speech_pb2.ChatRequest(content="x" * 100_001), "content"),
                           (speech_pb2.ChatRequest(type="audio", content="not base64!"), "content")):
        err = await fails(chat(speech).Chat(request, metadata=account.metadata), grpc.StatusCode.INVALID_ARGUMENT)
        assert field in (err.details() or "")
    await fails(chat(speech).Chat(speech_pb2.ChatRequest(content="hi", conversation_id="conv_nope"),
                                  metadata=account.metadata), grpc.StatusCode.NOT_FOUND)


async def test_stream_chat_names_its_ids_from_the_first_chunk(speech: Speech, account: Account) -> None:
    chunks = [c async for c in chat(speech).StreamChat(speech_pb2.StreamChatRequest(content="one two three"),
                                                        metadata=account.metadata)]
    assert "".join(c.content for c in chunks) == "echo: one two three"
    assert chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert len({(c.conversation_id, c.message_id) for c in chunks}) == 1
    messages = await chat(speech).ListMessages(speech_pb2.ListMessagesRequest(
        conversation_id=chunks[0].conversation_id), metadata=account.metadata)
    assert messages.messages[1].message_id == chunks[0].message_id


async def test_conversations_are_their_users_and_admins_see_all(
    speech: Speech, account: Account, auth_channel: grpc.aio.Channel
) -> None:
    other = await signed_in(auth_channel)
    admin = await signed_in(auth_channel, role="admin")
    mine = await chat(speech).Chat(speech_pb2.ChatRequest(content="a secret about penguins"),
                                   metadata=account.metadata)
    theirs = await chat(speech).Chat(speech_pb2.ChatRequest(content="weather"), metadata=other.metadata)
    ask = speech_pb2.GetConversationRequest(conversation_id=mine.conversation_id)
    await fails(chat(speech).GetConversation(ask, metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
    await fails(chat(speech).Chat(speech_pb2.ChatRequest(content="hi", conversation_id=mine.conversation_id),
                                  metadata=other.metadata), grpc.StatusCode.NOT_FOUND)
    await fails(chat(speech).StreamChat(speech_pb2.StreamChatRequest(content="hi", user_id=account.user_id),
                                        metadata=other.metadata).read(), grpc.StatusCode.NOT_FOUND)
    own = await chat(speech).ListConversations(speech_pb2.ListConversationsRequest(), metadata=other.metadata)
    assert [c.conversation_id for c in own.conversations] == [theirs.conversation_id]

    await fails(admin_stub(speech).AdminListConversations(speech_pb2.AdminListConversationsRequest(),
                                                          metadata=account.metadata),
                grpc.StatusCode.PERMISSION_DENIED)
    everything = await admin_stub(speech).AdminListConversations(speech_pb2.AdminListConversationsRequest(),
                                                                 metadata=admin.metadata)
    assert [c.conversation_id for c in everything.conversations] == [theirs.conversation_id, mine.conversation_id]
    found = await admin_stub(speech).AdminSearchConversations(speech_pb2.AdminSearchConversationsRequest(
        query="PENGUINS secret"), metadata=admin.metadata)
    assert [c.conversation_id for c in found.conversations] == [mine.conversation_id]
    await fails(admin_stub(speech).AdminSearchConversations(speech_pb2.AdminSearchConversationsRequest(query=" "),
                                                            metadata=admin.metadata),
                grpc.StatusCode.INVALID_ARGUMENT)
    full = await admin_stub(speech).AdminGetConversation(speech_pb2.AdminGetConversationRequest(
        conversation_id=mine.conversation_id), metadata=admin.metadata)
    assert [m.role for m in full.messages] == ["user", "assistant"] and full.conversation.user_id == account.user_id
    await admin_stub(speech).AdminDeleteConversation(speech_pb2.AdminDeleteConversationRequest(
        conversation_id=mine.conversation_id), metadata=admin.metadata)
    await fails(chat(speech).GetConversation(ask, metadata=account.metadata), grpc.StatusCode.NOT_FOUND)


@pytest.fixture
async def edge(auth_unit: RunningUnit, base_env: dict[str, str], tmp_path: Path,
               stack: AsyncExitStack, start_speech: StartSpeech) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    port = free_port()
    await start_speech(port=port)
    env = {**base_env, "AGENTMESH_SPEECH_PORT": str(port), "AGENTMESH_DATA_DIR": str(tmp_path / "edge")}
    async with TestClient(TestServer(create_app(Settings.from_env(env)))) as client:
        yield client


async def test_seed_003_chat_paths_and_socket_through_the_edge(edge: TestClient,  # type: ignore[type-arg]
                                                               account: Account) -> None:
    headers = {"Authorization": f"Bearer {account.access_token}"}
    reply = await edge.post("/chat", json={"type": "text", "content": "Hello!"}, headers=headers)
    assert reply.status == 200, await reply.text()
    body = await reply.json()
    assert (body["type"], body["content"]) == ("text", "echo: Hello!") and body["conversation_id"]
    again = await edge.post("/api/v1/chat", json={"content": "more", "conversation_id": body["conversation_id"]},
                            headers=headers)
    assert (await again.json())["conversation_id"] == body["conversation_id"]
    bad = await edge.post("/chat", json={"type": "text", "content": ""}, headers=headers)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "INVALID_ARGUMENT"
    listed = await (await edge.get("/api/v1/conversations", headers=headers)).json()
    assert listed["total_size"] == 1 and listed["conversations"][0]["message_count"] == 4

    async with edge.ws_connect(f"/ws/{account.user_id}", headers=headers) as socket:
        await socket.send_json({"type": "text", "content": "over the socket"})
        frames = []
        while not frames or not frames[-1].get("done"):
            frames.append(await socket.receive_json(timeout=5))
    assert "".join(f.get("content", "") for f in frames) == "echo: over the socket"
    assert frames[0]["conversation_id"] and frames[0]["timestamp"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is not installed: `make install` installs it with apt-get, which was unavailable")
async def test_an_audio_turn_is_heard_answered_and_spoken(speech: Speech, account: Account) -> None:
    spoken = await speech_pb2_grpc.SpeechServiceStub(speech.channel).SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text="please open the window", voice_id="en-us+klatt"),
        metadata=account.metadata)
    reply = await chat(speech).Chat(speech_pb2.ChatRequest(
        type="audio", content=base64.b64encode(spoken.audio_b64).decode()), metadata=account.metadata)
    assert {"please", "window"} <= set(reply.transcript.split()), reply.transcript  # recognition is real
    assert reply.type == "audio" and reply.content == f"echo: {reply.transcript}"
    assert reply.audio_b64[:4] == b"RIFF" and reply.sample_rate > 0
    messages = await chat(speech).ListMessages(speech_pb2.ListMessagesRequest(
        conversation_id=reply.conversation_id), metadata=account.metadata)
    assert [(m.role, m.type) for m in messages.messages] == [("user", "audio"), ("assistant", "audio")]
    assert messages.messages[0].content == reply.transcript
