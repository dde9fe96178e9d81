"""SpeechService through the real speech unit: espeak-ng really speaks, pocketsphinx really listens."""

from __future__ import annotations

import asyncio
import shutil
import struct
import time
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import speech_pb2, speech_pb2_grpc
from google.rpc import error_details_pb2

from services.common.errors import status_from_trailers
from services.speech.audio import limits, wav
from tests.auth.conftest import Account, signed_in
from tests.speech.conftest import Speech, StartSpeech

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed: `make install` installs it with apt-get, which was unavailable or failed",
)
pytestmark = needs_espeak

# Klatt synthesis is the espeak-ng voice pocketsphinx's model hears best.
CLEAR_VOICE = "en-us+klatt"
SENTENCE = "please call me back tomorrow morning"


def stub(speech: Speech) -> speech_pb2_grpc.SpeechServiceStub:
    return speech_pb2_grpc.SpeechServiceStub(speech.channel)


def words_back(said: str, heard: str) -> float:
    """The share of the words said that were heard."""
    spoken, recognised = said.lower().split(), set(heard.lower().split())
    return sum(word in recognised for word in spoken) / len(spoken)


def metric(page: str, name: str, **labels: str) -> float:
    wanted = "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
    prefix = f"{name}{wanted} "
    found = [float(line.removeprefix(prefix)) for line in page.splitlines() if line.startswith(prefix)]
    return found[0] if found else 0.0


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations of a failed call, by field."""
    status = status_from_trailers(error.trailing_metadata())
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def silence_wav(seconds: float, rate: int = 8_000) -> bytes:
    """8-bit unsigned PCM silence (128 is zero)."""
    body = b"\x80" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    return b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", len(body)) + body


@pytest.fixture
async def speech(start_speech: StartSpeech) -> Speech:
    return await start_speech()


async def test_round_trip_speaks_a_sentence_and_hears_it_back_then_serves_both_from_the_cache(
    speech: Speech, account: Account, auth_channel: grpc.aio.Channel
) -> None:
    service = stub(speech)
    said = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=SENTENCE, voice_id=CLEAR_VOICE), metadata=account.metadata)
    info = wav.parse(said.audio_b64)
    assert (said.format, said.sample_rate, said.cached) == ("wav", 22_050, False)
    assert (info.encoding, info.bits, info.channels, info.sample_rate) == ("pcm", 16, 1, 22_050)
    assert 1.5 < said.duration_seconds < 5.0 and abs(said.duration_seconds - info.duration) < 0.01

    heard = await service.TranscribeAudio(
        speech_pb2.TranscribeAudioRequest(audio=said.audio_b64), metadata=account.metadata)
    assert words_back(SENTENCE, heard.transcript) >= 0.7, heard.transcript
    assert (heard.detected_language, heard.cached, heard.llm_response, heard.audio_b64) == ("en", False, "", b"")
    assert abs(heard.duration_seconds - said.duration_seconds) < 0.01

    # The same inputs again: the same results, from the cache, with no engine run.
    again = await service.TranscribeAudio(
        speech_pb2.TranscribeAudioRequest(audio=said.audio_b64, content_type="audio/wav", language="en-US"),
        metadata=account.metadata)
    assert (again.cached, again.transcript, again.duration_seconds) == (True, heard.transcript, heard.duration_seconds)
    resaid = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=SENTENCE, voice_id=CLEAR_VOICE, language="en"),
        metadata=account.metadata)
    assert (resaid.cached, resaid.audio_b64, resaid.sample_rate) == (True, said.audio_b64, said.sample_rate)
    # What changes the audio is part of the key; another tenant never gets a hit.
    slower = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=SENTENCE, voice_id=CLEAR_VOICE, speed=0.8), metadata=account.metadata)
    assert not slower.cached and slower.duration_seconds > said.duration_seconds
    other = await signed_in(auth_channel)
    theirs = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=SENTENCE, voice_id=CLEAR_VOICE), metadata=other.metadata)
    assert not theirs.cached and theirs.audio_b64 == said.audio_b64  # espeak-ng is deterministic

    page = await speech.metrics()
    cache = "agentmesh_speech_cache_requests_total"
    assert metric(page, cache, kind="tts", backend="memory", result="hit") == 1.0
    assert metric(page, cache, kind="tts", backend="memory", result="miss") == 3.0
    assert metric(page, cache, kind="stt", backend="memory", result="hit") == 1.0
    assert metric(page, cache, kind="stt", backend="memory", result="miss") == 1.0
    runs = "agentmesh_speech_engine_runs_total"
    assert metric(page, runs, engine="pocketsphinx", outcome="OK") == 1.0
    assert metric(page, runs, engine="espeak-ng", outcome="OK") == 3.0


async def test_full_round_trip_transcribes_answers_with_the_llm_and_speaks_the_answer(
    speech: Speech, account: Account
) -> None:
    service = stub(speech)
    said = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text="what is the weather like today", voice_id=CLEAR_VOICE),
        metadata=account.metadata)
    reply = await service.TranscribeAudio(
        speech_pb2.TranscribeAudioRequest(audio=said.audio_b64, full_round_trip=True, language="en",
                                          voice_id="en-us+f3"),
        metadata=account.metadata)
    assert words_back("what is the weather like today", reply.transcript) >= 0.7, reply.transcript
    assert reply.llm_response == f"echo: {reply.transcript}"  # the unit's LLM: the default echo provider
    answer = wav.parse(reply.audio_b64)
    assert reply.sample_rate == answer.sample_rate == 22_050 and answer.duration > 1.0

    # A recording with nothing to hear ends the round trip at the empty transcript.
    quiet = await service.TranscribeAudio(
        speech_pb2.TranscribeAudioRequest(audio=silence_wav(1.0), full_round_trip=True), metadata=account.metadata)
    assert (quiet.transcript, quiet.llm_response, quiet.audio_b64) == ("", "", b"")
    assert abs(quiet.duration_seconds - 1.0) < 0.01


async def test_voices_are_listed_filtered_and_paged(speech: Speech, account: Account) -> None:
    service = stub(speech)
    first = await service.ListVoices(speech_pb2.ListVoicesRequest(), metadata=account.metadata)
    assert first.total_size > 400 and len(first.voices) == 50 and first.next_page_token
    english = await service.ListVoices(speech_pb2.ListVoicesRequest(language="en", page_size=500),
                                       metadata=account.metadata)
    by_id = {v.voice_id: v for v in english.voices}
    assert {"en-us", "en-us+f3", "en-us+m3", "en-us+klatt", "en-gb"} <= set(by_id)
    assert {v.language for v in english.voices} == {"en"}
    assert (by_id["en-us"].name, by_id["en-us"].gender) == ("English (America)", "male")
    assert by_id["en-us+f3"].gender == "female"
    french = await service.ListVoices(
        speech_pb2.ListVoicesRequest(language="fr", filter="female", order_by="voice_id desc"),
        metadata=account.metadata)
    assert [v.voice_id for v in french.voices] == ["fr-fr+f3", "fr-ch+f3", "fr-be+f3"]
    second = await service.ListVoices(
        speech_pb2.ListVoicesRequest(language="fr", limit=2, offset=2), metadata=account.metadata)
    assert len(second.voices) == 2 and second.total_size == 12
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await service.ListVoices(speech_pb2.ListVoicesRequest(order_by="pitch"), metadata=account.metadata)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "order_by" in violations(bad.value)


def _tts(**fields: object) -> speech_pb2.SynthesizeSpeechRequest:
    return speech_pb2.SynthesizeSpeechRequest(**{"text": "hello", **fields})  # type: ignore[arg-type]


def _stt(**fields: object) -> speech_pb2.TranscribeAudioRequest:
    return speech_pb2.TranscribeAudioRequest(**{"audio": silence_wav(0.5), **fields})  # type: ignore[arg-type]


MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200)

BAD_SYNTHESIS = [
    (_tts(text=""), "text", "must not be empty"),
    (_tts(text="   "), "text", "must not be empty"),
    (_tts(text="x" * 50_001), "text", "at most 50000 characters"),
    (_tts(text="a\x00b"), "text", "NUL"),
    (_tts(voice_id="robot-9"), "voice_id", "unknown voice 'robot-9'"),
    (_tts(voice_id="fr-fr", language="en"), "voice_id", "speaks fr, not en"),
    (_tts(language="xx"), "language", "no voice speaks 'xx'"),
    (_tts(language="english"), "language", "ISO 639-1"),
    (_tts(speed=0.1), "speed", "between 0.5 and 3.0"),
    (_tts(speed=float("nan")), "speed", "between 0.5 and 3.0"),
    (_tts(format="mp3"), "format", "unsupported format 'mp3'; this unit produces wav"),
    # Longer than one reply carries (90 s) at this speed: refused as soon as espeak-ng passes it.
    (_tts(text="This sentence is here to make the speech far too long. " * 60), "text", "longer than 90 s"),
]

BAD_TRANSCRIPTION = [
    (_stt(audio=b""), "audio", "must not be empty"),
    (_stt(audio=b"hello, I am not a recording"), "audio", "is text, not WAV audio"),
    (_stt(audio=MP3), "audio", "is MP3, not WAV audio"),
    (_stt(audio=b"RIFF\x00\x00\x00\x00WAVEjunk"), "audio", "has no fmt chunk"),
    (_stt(audio=b"\x00" * (limits.MAX_AUDIO_BYTES + 1)), "audio", "at most 4000000 bytes"),
    (_stt(audio=silence_wav(61.0)), "audio", "lasts 61.0 s; at most 60 s"),
    (_stt(content_type="audio/webm"), "content_type", "audio/webm is not supported; send WAV"),
    (_stt(content_type="text/plain"), "content_type", "is not an audio type"),
    (_stt(language="fr"), "language", "understands en only"),
    (_stt(full_round_trip=True, voice_id="robot-9"), "voice_id", "unknown voice"),
]


async def test_bad_input_is_invalid_argument_naming_the_field(speech: Speech, account: Account) -> None:
    service = stub(speech)
    for request, field, expected in BAD_SYNTHESIS:
        for call in (service.SynthesizeSpeech, service.SynthesizeSpeechAudio):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(request, metadata=account.metadata)  # type: ignore[operator]
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (request.text[:20], field)
            found = violations(refused.value)
            assert expected in found.get(field, ""), (field, found)
    for request, field, expected in BAD_TRANSCRIPTION:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.TranscribeAudio(request, metadata=account.metadata)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, expected)
        found = violations(refused.value)
        assert expected in found.get(field, ""), (field, found)
    # Every wrong field at once, in one answer.
    with pytest.raises(grpc.aio.AioRpcError) as several:
        await service.SynthesizeSpeech(_tts(text="", speed=9.0, format="ogg"), metadata=account.metadata)
    assert set(violations(several.value)) == {"text", "speed", "format"}
    # Only the too-long text reached an engine (once per RPC); nothing else did.
    runs = [line for line in (await speech.metrics()).splitlines()
            if line.startswith("agentmesh_speech_engine_runs_total{")]
    assert runs == ['agentmesh_speech_engine_runs_total{engine="espeak-ng",outcome="INVALID_ARGUMENT"} 2.0']


async def test_recognition_never_blocks_the_unit_and_a_deadline_ends_it(speech: Speech, account: Account) -> None:
    service = stub(speech)
    long_text = "the children are playing in the garden and the train was late again this evening " * 3
    said = await service.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=long_text, voice_id=CLEAR_VOICE), metadata=account.metadata)
    assert said.duration_seconds > 10

    # Past its deadline the decode is abandoned (its worker killed) and nothing is cached.
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await service.TranscribeAudio(speech_pb2.TranscribeAudioRequest(audio=said.audio_b64),
                                      metadata=account.metadata, timeout=0.4)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    # While a long decode runs, the unit answers other calls at once.
    decoding = asyncio.ensure_future(service.TranscribeAudio(
        speech_pb2.TranscribeAudioRequest(audio=said.audio_b64), metadata=account.metadata))
    await asyncio.sleep(0.3)
    slowest = 0.0
    while not decoding.done():
        started = time.perf_counter()
        await service.ListVoices(speech_pb2.ListVoicesRequest(language="en"), metadata=account.metadata)
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.05)
    heard = await decoding
    assert not heard.cached and words_back(long_text, heard.transcript) >= 0.6, heard.transcript
    assert slowest < 0.25, slowest
    page = await speech.metrics()
    runs = "agentmesh_speech_engine_runs_total"
    # Ended by its own budget (a moment before the caller's deadline), or by the caller's cancellation.
    assert metric(page, runs, engine="pocketsphinx", outcome="DEADLINE_EXCEEDED") + metric(
        page, runs, engine="pocketsphinx", outcome="CANCELLED") == 1.0
    assert metric(page, runs, engine="pocketsphinx", outcome="OK") == 1.0


async def test_without_espeak_ng_speech_is_unavailable_and_recognition_still_works(
    start_speech: StartSpeech, account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a host where espeak-ng is not installed
    service = stub(await start_speech())
    for call, request in ((service.SynthesizeSpeech, _tts()), (service.ListVoices, speech_pb2.ListVoicesRequest()),
                          (service.TranscribeAudio, _stt(full_round_trip=True))):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call(request, metadata=account.metadata)  # type: ignore[operator]
        assert missing.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "espeak-ng is missing; install the Debian package espeak-ng" in (missing.value.details() or "")
    heard = await service.TranscribeAudio(_stt(), metadata=account.metadata)
    assert heard.transcript == "" and heard.detected_language == "en"
