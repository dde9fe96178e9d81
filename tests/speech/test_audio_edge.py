"""Seed 003's /api/v1/tts/speak and /api/v1/audio/transcribe (and /tts/audio, /tts/voices) through the real edge."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from edge.mesh import create_app
from services.common.settings import UNITS, Settings
from services.speech.audio import wav
from tests.conftest import free_port
from tests.speech.conftest import Speech, StartSpeech
from tests.speech.test_audio import CLEAR_VOICE, needs_espeak, words_back

pytestmark = needs_espeak


@pytest.fixture
def base_env(base_env: dict[str, str]) -> dict[str, str]:
    """Every unit on a port of its own, so the edge finds the speech unit where it is configured."""
    return {**base_env, **{f"AGENTMESH_{unit.upper()}_PORT": str(free_port()) for unit in UNITS if unit != "auth"}}


@pytest.fixture
async def speech(start_speech: StartSpeech, settings: Settings) -> Speech:
    return await start_speech(port=settings.ports["speech"])


@pytest.fixture
async def edge(speech: Speech, settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def _token(edge: TestClient) -> dict[str, str]:  # type: ignore[type-arg]
    registered = await edge.post("/api/v1/auth/register",
                                 json={"email": "speaker@example.com", "password": "correct horse 1"})
    assert registered.status == 201, await registered.text()
    return {"Authorization": f"Bearer {(await registered.json())['access_token']}"}


async def _ok(reply: Any) -> Any:
    assert reply.status == 200, await reply.text()
    return await reply.json()


def _violations(body: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for detail in body["error"]["details"]:
        if detail["@type"].endswith("google.rpc.BadRequest"):
            found.update({v["field"]: v["description"] for v in detail["field_violations"]})
    return found


async def test_seed_003_speak_then_transcribe_with_the_full_round_trip(edge: TestClient) -> None:  # type: ignore[type-arg]
    headers = await _token(edge)
    # Seed 003's body, verbatim.
    seed = await edge.post("/api/v1/tts/speak", headers=headers,
                           json={"text": "Hello world", "language": "en", "voice_id": "default"})
    body = await _ok(seed)
    assert body["sample_rate"] == 22_050 and body["format"] == "wav"
    assert wav.parse(base64.b64decode(body["audio_b64"])).duration > 0.5
    assert seed.headers["X-RateLimit-Limit"] == "20"  # seed 003's tts class

    sentence = "please call me back tomorrow morning"
    said = await _ok(await edge.post("/api/v1/tts/speak", headers=headers,
                                     json={"text": sentence, "voice_id": CLEAR_VOICE, "speed": 1.0}))
    # JSON clients send the audio base64-encoded (the multipart form is the edge's to parse).
    heard = await _ok(await edge.post("/api/v1/audio/transcribe", headers=headers,
                                      json={"audio": said["audio_b64"], "language": "en"}))
    assert words_back(sentence, heard["transcript"]) >= 0.7, heard
    assert heard["detected_language"] == "en" and heard["duration_seconds"] > 1.5
    round_trip = await _ok(await edge.post("/api/v1/audio/transcribe", headers=headers, json={
        "audio": said["audio_b64"], "full_round_trip": True, "language": "en"}))
    assert round_trip["cached"] is True and round_trip["transcript"] == heard["transcript"]
    assert round_trip["llm_response"] == f"echo: {heard['transcript']}"
    assert round_trip["sample_rate"] == 22_050
    assert wav.parse(base64.b64decode(round_trip["audio_b64"])).duration > 1.0

    raw = await edge.post("/api/v1/tts/audio", headers=headers, json={"text": sentence, "voice_id": CLEAR_VOICE})
    assert raw.status == 200 and raw.headers["Content-Type"] == "audio/wav"
    assert await raw.read() == base64.b64decode(said["audio_b64"])

    voices = await _ok(await edge.get("/api/v1/tts/voices?language=de&page_size=10", headers=headers))
    assert [v["voice_id"] for v in voices["voices"]] == ["de", "de+f3", "de+klatt", "de+m3"]
    assert voices["voices"][1] == {"voice_id": "de+f3", "name": "German, female", "language": "de",
                                   "gender": "female"}

    anonymous = await edge.post("/api/v1/tts/speak", json={"text": "hello"})
    assert anonymous.status == 401


BAD = [
    ("/api/v1/tts/speak", {"text": "hi", "voice_id": "robot-9"}, "voice_id", "unknown voice"),
    ("/api/v1/tts/speak", {"text": "", "language": "en"}, "text", ""),
    ("/api/v1/tts/speak", {"text": "x" * 50_001}, "text", "at most 50000 characters"),
    ("/api/v1/tts/speak", {"text": "hi", "speed": 7}, "speed", "between 0.5 and 3.0"),
    ("/api/v1/tts/audio", {"text": "hi", "format": "ogg"}, "format", "this unit produces wav"),
    ("/api/v1/audio/transcribe", {"language": "en"}, "audio", ""),
    ("/api/v1/audio/transcribe", {"audio": base64.b64encode(b"just some text").decode()}, "audio",
     "is text, not WAV audio"),
    ("/api/v1/audio/transcribe", {"audio": base64.b64encode(b"OggS" + bytes(60)).decode()}, "audio",
     "is Ogg (Vorbis/Opus), not WAV audio"),
    ("/api/v1/audio/transcribe", {"audio": base64.b64encode(b"\x00" * 4_000_001).decode()}, "audio",
     "at most 4000000 bytes"),
    ("/api/v1/audio/transcribe", {"audio": "not base64!"}, "audio", ""),
]


async def test_bad_input_is_400_with_field_violations(edge: TestClient) -> None:  # type: ignore[type-arg]
    headers = await _token(edge)
    for path, body, field, expected in BAD:
        # As a stream: aiohttp warns about (and the suite refuses) large bodies passed as bytes.
        payload = io.BytesIO(json.dumps(body).encode())
        reply = await edge.post(path, headers={**headers, "Content-Type": "application/json"}, data=payload)
        problem = await reply.json()
        assert (reply.status, problem["error"]["code"]) == (400, "INVALID_ARGUMENT"), (path, body.keys(), problem)
        found = _violations(problem)
        assert field in found and expected in found[field], (path, field, found)


async def test_seed_003_multipart_uploads_with_form_fields_or_query_parameters(
    edge: TestClient,  # type: ignore[type-arg]
) -> None:
    headers = await _token(edge)
    sentence = "please call me back tomorrow morning"
    said = await _ok(await edge.post("/api/v1/tts/speak", headers=headers,
                                     json={"text": sentence, "voice_id": CLEAR_VOICE}))
    audio = base64.b64decode(said["audio_b64"])
    # curl -F audio=@audio.wav -F full_round_trip=true -F language=en
    form = aiohttp.FormData()
    form.add_field("audio", io.BytesIO(audio), filename="audio.wav", content_type="audio/wav")
    form.add_field("full_round_trip", "true")
    form.add_field("language", "en")
    curl = await _ok(await edge.post("/api/v1/audio/transcribe", headers=headers, data=form))
    assert words_back(sentence, curl["transcript"]) >= 0.7 and curl["llm_response"].startswith("echo: ")
    assert wav.parse(base64.b64decode(curl["audio_b64"])).duration > 1.0
    # requests.post(..., files={"audio": f}, params={"full_round_trip": "true", "language": "en"})
    upload = aiohttp.FormData()
    upload.add_field("audio", io.BytesIO(audio), filename="audio.wav")
    python = await _ok(await edge.post("/api/v1/audio/transcribe?full_round_trip=true&language=en",
                                       headers=headers, data=upload))
    assert python["transcript"] == curl["transcript"] and python["llm_response"] == curl["llm_response"]
    # a text part where a file belongs, and a form field the method does not have: 400 naming them
    wrong = aiohttp.FormData()
    wrong.add_field("audio", io.BytesIO(audio), filename="audio.wav")
    wrong.add_field("loudness", "11")
    refused = await edge.post("/api/v1/audio/transcribe", headers=headers, data=wrong)
    assert refused.status == 400 and "loudness" in _violations(await refused.json())
    not_a_file = aiohttp.FormData()
    not_a_file.add_field("audio", "just text")
    not_a_file.add_field("language", io.BytesIO(b"en"), filename="language.txt")
    refused = await edge.post("/api/v1/audio/transcribe", headers=headers, data=not_a_file)
    assert refused.status == 400 and "language" in _violations(await refused.json())
