"""The OpenAI-compatible provider through the real speech unit, against a local chat-completions server."""

from __future__ import annotations

import logging
import time

import grpc
import pytest
from agentmesh.v1 import speech_pb2
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from services.common.errors import status_from_trailers
from tests.auth.conftest import Account
from tests.conftest import free_port
from tests.speech.conftest import REQUEST_KEY, SETTINGS_KEY, Speech, StartSpeech, collect
from tests.speech.openai_server import Failure, FakeOpenAi, answer_for


@pytest.fixture
async def speech(start_speech: StartSpeech, openai_server: FakeOpenAi) -> Speech:
    """The openai provider as the platform default, the settings key configured, no cache."""
    return await start_speech(
        LLM_PROVIDER="openai", LLM_MODEL="fake-small", OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY=SETTINGS_KEY, LLM_CACHE_TTL="0", LLM_TIMEOUT="5",
    )


def generate(prompt: str = "Hello there", **fields: object) -> speech_pb2.GenerateRequest:
    return speech_pb2.GenerateRequest(prompt=prompt, **fields)  # type: ignore[arg-type]


async def test_generate_sends_a_chat_completion_and_returns_its_answer(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    parameters = struct_pb2.Struct()
    parameters.update({"top_p": 0.5, "stop": ["END"], "seed": 7})
    reply = await speech.llm.Generate(
        generate("What is gRPC?", system="Answer briefly.", temperature=0.7, max_tokens=50, parameters=parameters),
        metadata=account.metadata,
    )
    [sent] = openai_server.completions()
    assert sent.body == {
        "model": "fake-small",
        "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is gRPC?"}],
        "stream": False, "temperature": 0.7, "max_tokens": 50, "top_p": 0.5, "stop": ["END"], "seed": 7,
    }
    assert reply.text == answer_for(sent.body)
    assert (reply.provider, reply.model, reply.finish_reason, reply.cached) == ("openai", "fake-small", "stop", False)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, len(reply.text.split()))
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_the_request_chooses_provider_and_model(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi
) -> None:
    speech = await start_speech(OPENAI_BASE_URL=openai_server.base_url)  # echo stays the default
    reply = await speech.llm.Generate(generate(provider="openai", model="fake-large", max_tokens=3),
                                      metadata=account.metadata)
    assert (reply.provider, reply.model, reply.finish_reason) == ("openai", "fake-large", "length")
    assert reply.text == "The fake model"
    assert openai_server.completions()[0].authorization == ""  # no key configured: none sent (Ollama, vLLM)
    echoed = await speech.llm.Generate(generate(), metadata=account.metadata)
    assert echoed.provider == "echo" and len(openai_server.completions()) == 1


async def test_stream_chunks_concatenate_to_the_servers_answer(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    replies = await collect(speech.llm.StreamGenerate(
        speech_pb2.StreamGenerateRequest(prompt="tell me a story"), metadata=account.metadata
    ))
    [sent] = openai_server.completions()
    assert sent.body["stream"] is True
    *chunks, last = replies
    expected = answer_for(sent.body)
    assert len(chunks) == len(expected.split())
    assert "".join(c.delta for c in chunks) == expected
    assert last.done and not last.delta and last.finish_reason == "stop"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (4, len(expected.split()))
    assert {(r.provider, r.model) for r in replies} == {("openai", "fake-small")}


async def test_the_requests_api_key_wins_over_the_settings_key(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    await speech.llm.Generate(generate("one"), metadata=account.metadata)
    await speech.llm.Generate(generate("two", api_key=REQUEST_KEY), metadata=account.metadata)
    await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="three", api_key=REQUEST_KEY),
                                            metadata=account.metadata))
    assert [r.authorization for r in openai_server.completions()] == [
        f"Bearer {SETTINGS_KEY}", f"Bearer {REQUEST_KEY}", f"Bearer {REQUEST_KEY}"
    ]


async def test_429_is_retried_after_its_retry_after(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    openai_server.fail_next(Failure(429, {"Retry-After": "1"}))
    started = time.monotonic()
    reply = await speech.llm.Generate(generate(), metadata=account.metadata)
    assert time.monotonic() - started >= 1.0
    assert reply.text.startswith("The fake model heard")
    assert len(openai_server.completions()) == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
async def test_500_then_success_is_retried(
    speech: Speech, account: Account, openai_server: FakeOpenAi, streamed: bool
) -> None:
    openai_server.fail_next(Failure(500), Failure(503))
    if streamed:
        replies = await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="again"),
                                                          metadata=account.metadata))
        text = "".join(r.delta for r in replies)
    else:
        text = (await speech.llm.Generate(generate("again"), metadata=account.metadata)).text
    assert text == "The fake model heard: again"
    assert len(openai_server.completions()) == 3


def _error_info(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], float | None]:
    status = status_from_trailers(error.trailing_metadata())
    assert status is not None
    reason, metadata, retry = "", {}, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            delay = error_details_pb2.RetryInfo()
            detail.Unpack(delay)
            retry = delay.retry_delay.seconds + delay.retry_delay.nanos / 1e9
    return reason, metadata, retry


@pytest.mark.parametrize(
    ("failure", "code", "attempts"),
    [
        (Failure(500), grpc.StatusCode.UNAVAILABLE, 3),
        (Failure(429, {"Retry-After": "120"}), grpc.StatusCode.RESOURCE_EXHAUSTED, 1),
        (Failure(401), grpc.StatusCode.FAILED_PRECONDITION, 1),
        (Failure(403), grpc.StatusCode.PERMISSION_DENIED, 1),
        (Failure(400), grpc.StatusCode.INVALID_ARGUMENT, 1),
        (Failure(404), grpc.StatusCode.NOT_FOUND, 1),
    ],
    ids=["500-forever", "429-long-retry-after", "401", "403", "400", "404"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
async def test_final_failures_map_to_grpc_codes_naming_the_provider_never_the_key(
    speech: Speech, account: Account, openai_server: FakeOpenAi,
    failure: Failure, code: grpc.StatusCode, attempts: int, streamed: bool,
) -> None:
    openai_server.fail_always(failure)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        if streamed:
            await collect(speech.llm.StreamGenerate(
                speech_pb2.StreamGenerateRequest(prompt="fail", api_key=REQUEST_KEY), metadata=account.metadata
            ))
        else:
            await speech.llm.Generate(generate("fail", api_key=REQUEST_KEY), metadata=account.metadata)
    error = info.value
    assert error.code() == code
    assert "openai provider at http://127.0.0.1" in (error.details() or "")
    assert REQUEST_KEY not in (error.details() or "") and SETTINGS_KEY not in (error.details() or "")
    assert len(openai_server.completions()) == attempts
    reason, metadata, retry = _error_info(error)
    assert reason.startswith("PROVIDER_") and metadata["http_status"] == str(failure.status)
    if failure.status == 429:
        assert retry == 120


async def test_a_slow_provider_is_deadline_exceeded(
    start_speech: StartSpeech, account: Account, openai_server: FakeOpenAi
) -> None:
    speech = await start_speech(LLM_PROVIDER="openai", OPENAI_BASE_URL=openai_server.base_url, LLM_TIMEOUT="0.5",
                                LLM_CACHE_TTL="0")
    openai_server.fail_always(Failure(delay=3.0))
    for streamed in (False, True):
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            if streamed:
                await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="slow"),
                                                        metadata=account.metadata))
            else:
                await speech.llm.Generate(generate("slow"), metadata=account.metadata)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "did not answer within 0.5 s" in (info.value.details() or "")
        assert time.monotonic() - started < 2.0


async def test_the_callers_deadline_bounds_the_provider_call(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    openai_server.fail_always(Failure(delay=3.0))
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.Generate(generate("slow"), metadata=account.metadata, timeout=0.6)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.0


async def test_an_unreachable_provider_is_unavailable_after_retries(
    start_speech: StartSpeech, account: Account
) -> None:
    speech = await start_speech(LLM_PROVIDER="openai", OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await speech.llm.Generate(generate(), metadata=account.metadata)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "unreachable after 3 attempt(s)" in (info.value.details() or "")


async def test_a_stream_cut_after_text_is_not_retried(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    openai_server.fail_next(Failure(cut_stream=True))
    received: list[speech_pb2.StreamGenerateResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for reply in speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="cut me"),
                                                     metadata=account.metadata):
            received.append(reply)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert [r.delta for r in received] == ["The"]  # the text the caller has is never sent twice
    assert len(openai_server.completions()) == 1


async def test_a_server_that_ignores_stream_still_streams_its_answer(
    speech: Speech, account: Account, openai_server: FakeOpenAi
) -> None:
    openai_server.fail_next(Failure(ignore_stream=True))
    replies = await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="whole"),
                                                      metadata=account.metadata))
    assert [(r.delta, r.done) for r in replies] == [("The fake model heard: whole", False), ("", True)]
    assert replies[-1].usage.completion_tokens == 5


async def test_the_api_key_never_reaches_the_logs(
    speech: Speech, account: Account, openai_server: FakeOpenAi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.fail_next(Failure(500))
    await speech.llm.Generate(generate("first", api_key=REQUEST_KEY), metadata=account.metadata)
    openai_server.fail_next(Failure(401))  # whose error body quotes the key
    with pytest.raises(grpc.aio.AioRpcError):
        await speech.llm.Generate(generate("second", api_key=REQUEST_KEY), metadata=account.metadata)
    openai_server.fail_next(Failure(429, {"Retry-After": "0"}))
    await collect(speech.llm.StreamGenerate(speech_pb2.StreamGenerateRequest(prompt="third", api_key=REQUEST_KEY),
                                            metadata=account.metadata))
    await speech.llm.Generate(generate("fourth"), metadata=account.metadata)  # the settings key
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert any(r.name == "agentmesh.speech.llm" and r.getMessage() == "llm generation" for r in caplog.records)
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert REQUEST_KEY not in text and SETTINGS_KEY not in text
