"""LlmService over gRPC against the real speech unit: the echo provider, request checks, ListModels."""

from __future__ import annotations

import grpc
import pytest
from agentmesh.v1 import speech_pb2, speech_pb2_grpc
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from services.common.errors import status_from_trailers
from services.common.tokens import Keys, TokenIssuer
from tests.auth.conftest import Account
from tests.conftest import free_port
from tests.speech.conftest import Speech, StartSpeech, collect
from tests.speech.openai_server import MODELS, FakeOpenAi


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields a BadRequest detail names."""
    status = status_from_trailers(error.trailing_metadata())
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


@pytest.fixture
async def speech(start_speech: StartSpeech) -> Speech:
    return await start_speech()


async def test_echo_answers_seed_003_generate(speech: Speech, account: Account) -> None:
    reply = await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="Hello, how are you?"),
                                      metadata=account.metadata)
    assert reply.text == "echo: Hello, how are you?"
    assert (reply.provider, reply.model, reply.finish_reason, reply.cached) == ("echo", "echo-1", "stop", False)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (4, 5, 9)


async def test_echo_counts_the_system_prompt_and_honours_max_tokens(speech: Speech, account: Account) -> None:
    reply = await speech.llm.Generate(
        speech_pb2.GenerateRequest(prompt="one two three four five", system="be brief", max_tokens=3),
        metadata=account.metadata,
    )
    assert reply.text == "echo: one two"
    assert reply.finish_reason == "length"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 3)


async def test_stream_chunks_concatenate_to_the_whole_answer(speech: Speech, account: Account) -> None:
    prompt = "stream  me\nthese words, please "
    replies = await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt=prompt),
                                                      metadata=account.metadata))
    # The finished stream was stored: the same question (the default provider named) is a cache hit.
    whole = await speech.llm.Generate(speech_pb2.GenerateRequest(prompt=prompt, provider="echo"),
                                      metadata=account.metadata)
    assert whole.cached
    *chunks, last = replies
    assert [c.delta.strip() for c in chunks if c.delta.strip()] == whole.text.split()  # one chunk per word
    assert "".join(c.delta for c in chunks) == whole.text == f"echo: {prompt}"
    assert not any(c.done for c in chunks)
    assert last.done and last.delta == "" and last.finish_reason == "stop"
    assert last.usage.total_tokens == whole.usage.total_tokens > 0
    assert {(r.provider, r.model) for r in replies} == {("echo", "echo-1")}


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [("", False), ("   ", False), ("x", True), ("y" * 100_000, True), ("z" * 100_001, False)],
    ids=["empty", "blank", "one", "max", "too-long"],
)
async def test_prompt_is_1_to_100000_characters(speech: Speech, account: Account, prompt: str, ok: bool) -> None:
    if ok:
        reply = await speech.llm.Generate(speech_pb2.GenerateRequest(prompt=prompt), metadata=account.metadata)
        assert reply.text == f"echo: {prompt}"
        stream = await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt=prompt),
                                                         metadata=account.metadata))
        assert stream[-1].done
        return
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await speech.llm.Generate(speech_pb2.GenerateRequest(prompt=prompt), metadata=account.metadata)
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt=prompt),
                                                metadata=account.metadata))
    for error in (unary.value, streamed.value):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(error) == ["prompt"]


def _parameters(**values: object) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"provider": "gpt-magic"}, "provider"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"model": "two words"}, "model"),
        ({"system": "s" * 100_001}, "system"),
        ({"api_key": "has a space"}, "api_key"),
        ({"api_key": "line\nbreak"}, "api_key"),
        ({"parameters": _parameters(model="other")}, "parameters.model"),
        ({"parameters": _parameters(messages=[])}, "parameters.messages"),
        ({"parameters": _parameters(stream=True)}, "parameters.stream"),
        ({"parameters": _parameters(stop="x" * 20_000)}, "parameters"),
    ],
    ids=lambda v: str(v)[:30],
)
async def test_bad_fields_are_invalid_argument_naming_the_field(
    speech: Speech, account: Account, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="hi", **request_fields),  # type: ignore[arg-type]
                                  metadata=account.metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (info.value.details() or "")
    if field != "provider":
        assert violations(info.value) == [field]
    assert "has a space" not in (info.value.details() or "")


async def test_a_conversation_that_is_not_the_callers_is_not_found(speech: Speech, account: Account) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="hi", conversation_id="conv-1"),
                                  metadata=account.metadata)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "conversation conv-1 not found" in (info.value.details() or "")


async def test_callers_must_sign_in(speech: Speech) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="hi"))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as chat:
        await speech_pb2_grpc.ChatServiceStub(speech.channel).Chat(speech_pb2.ChatRequest(type="text", content="hi"))
    assert chat.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_unit_acting_for_a_user_with_its_service_token(speech: Speech) -> None:
    """How the task and agent units call: service token + the user's x-user-* metadata."""
    issuer = TokenIssuer(Keys.from_settings(speech.settings), speech.settings)
    token, _ = issuer.issue(typ="access", sub="service:task", role="service")
    metadata = [("authorization", f"Bearer {token}"), ("x-user-id", "usr_1"), ("x-client-id", "tenant-1"),
                ("x-user-role", "user")]
    reply = await speech.llm.Generate(speech_pb2.GenerateRequest(prompt="from a task"), metadata=metadata)
    assert reply.text == "echo: from a task"


async def test_list_models_of_every_provider_filtered_and_paged(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi
) -> None:
    speech = await start_speech(OPENAI_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-list-models-key")
    everything = await speech.llm.ListModels(speech_pb2.ListModelsRequest(), metadata=account.metadata)
    assert [(m.provider, m.model_id) for m in everything.models] == [
        ("echo", "echo-1"), *(("openai", m) for m in sorted(MODELS))
    ]
    assert everything.total_size == 3 and not everything.next_page_token
    assert "development echo" in everything.models[0].description
    assert openai_server.requests[-1].authorization == "Bearer sk-list-models-key"

    only_openai = await speech.llm.ListModels(speech_pb2.ListModelsRequest(provider="openai", page_size=1),
                                              metadata=account.metadata)
    assert [m.model_id for m in only_openai.models] == ["fake-large"] and only_openai.total_size == 2
    second = await speech.llm.ListModels(
        speech_pb2.ListModelsRequest(provider="openai", page_size=1, page_token=only_openai.next_page_token),
        metadata=account.metadata,
    )
    assert [m.model_id for m in second.models] == ["fake-small"] and not second.next_page_token
    filtered = await speech.llm.ListModels(speech_pb2.ListModelsRequest(filter="LARGE"), metadata=account.metadata)
    assert [m.model_id for m in filtered.models] == ["fake-large"]
    by_id = await speech.llm.ListModels(speech_pb2.ListModelsRequest(order_by="model_id desc", limit=2, offset=1),
                                        metadata=account.metadata)
    assert [m.model_id for m in by_id.models] == ["fake-large", "echo-1"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.ListModels(speech_pb2.ListModelsRequest(provider="nope"), metadata=account.metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.ListModels(speech_pb2.ListModelsRequest(order_by="price"), metadata=account.metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_models_falls_back_to_the_configured_model_when_the_server_is_down(
    start_speech: StartSpeech, account: Account
) -> None:
    speech = await start_speech(LLM_PROVIDER="openai", LLM_MODEL="llama3:8b",
                                OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    reply = await speech.llm.ListModels(speech_pb2.ListModelsRequest(provider="openai"), metadata=account.metadata)
    assert [(m.provider, m.model_id) for m in reply.models] == [("openai", "llama3:8b")]
