"""SpeechService: TranscribeAudio (seed 003's /api/v1/audio/transcribe, with its full round trip),
SynthesizeSpeech (/api/v1/tts/speak), SynthesizeSpeechAudio (/api/v1/tts/audio) and ListVoices.

Each call is checked whole first (services/speech/audio/checks.py), then
looks in the cache, then runs an engine within the caller's deadline. The
full round trip is STT, then this unit's own LlmService (its providers, cache
and metrics), then TTS of the answer; the answer's audio stops at the longest
a reply carries (the caller has the whole answer as text), and an empty
transcript ends the round trip there, with nothing asked of the LLM.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Protocol

import grpc
from agentmesh.v1 import speech_pb2
from google.api import httpbody_pb2

from services.common import authctx
from services.common.errors import InvalidArgument
from services.common.paging import page_of
from services.speech.audio import checks, limits, wav
from services.speech.audio.cache import AudioResults, result_key
from services.speech.audio.stt import RecognizerPool
from services.speech.audio.tts import Speech, Synthesizer, speech_from_wav
from services.speech.audio.voices import Voice, language_problem, normalize_language
from services.speech.llm.providers import DeadlineExceeded

log = logging.getLogger("agentmesh.speech.audio")

MAX_FILTER_CHARS = 200
ORDERINGS = ("voice_id", "name", "language")
WAV_CONTENT_TYPE = "audio/wav"
# Leave the reply this much of the caller's deadline, so a slow engine ends as our DEADLINE_EXCEEDED.
_DEADLINE_MARGIN = 0.05


class Answerer(Protocol):
    """What answers a transcript on the full round trip."""

    async def answer(self, prompt: str, context: grpc.aio.ServicerContext) -> str: ...


class LlmAnswerer:
    """This unit's LlmService.Generate, called in process under the same caller and deadline."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm

    async def answer(self, prompt: str, context: grpc.aio.ServicerContext) -> str:
        reply = await self.llm.Generate(speech_pb2.GenerateRequest(prompt=prompt), context)
        return str(reply.text)


def _tenant() -> str:
    caller = authctx.current()
    return caller.tenant_id or f"user:{caller.user_id}"


def _budget(context: grpc.aio.ServicerContext, cap: float) -> float:
    """Seconds an engine may take: its own cap, or less when the caller's deadline is nearer."""
    remaining = context.time_remaining()
    if remaining is None or not math.isfinite(remaining):
        return cap
    budget = min(cap, float(remaining) - _DEADLINE_MARGIN)
    if budget <= 0:
        raise DeadlineExceeded("the call's deadline passed before the engine could start")
    return budget


class SpeechServicer:
    def __init__(self, synthesizer: Synthesizer, recognizer: RecognizerPool, results: AudioResults,
                 answerer: Answerer) -> None:
        self.synthesizer = synthesizer
        self.recognizer = recognizer
        self.results = results
        self.answerer = answerer

    # -- text to speech --------------------------------------------------------

    async def _spoken(self, text: str, voice: Voice, speed: float, context: grpc.aio.ServicerContext, *,
                      truncate: bool = False) -> tuple[Speech, bool]:
        key = result_key("tts", tenant=_tenant(), engine=self.synthesizer.version, voice=voice.voice_id,
                         text=text, speed=speed, format="wav")
        found = await self.results.speech(key)
        if found is not None:
            try:
                return speech_from_wav(found), True
            except wav.WavError:
                pass  # not audio this version wrote: synthesize it again
        speech = await self.synthesizer.synthesize(text, voice.espeak, speed, _budget(context, limits.TTS_TIMEOUT),
                                                   truncate=truncate)
        if not speech.truncated:  # a cut answer must never stand in for the whole text
            await self.results.keep_speech(key, speech.wav)
        return speech, False

    async def _synthesize(self, request: checks.SynthesizeLike, context: grpc.aio.ServicerContext
                          ) -> tuple[Speech, bool]:
        started = time.perf_counter()
        self.synthesizer.require()
        job = checks.synthesis(request, self.synthesizer.voices)
        speech, cached = await self._spoken(job.text, job.voice, job.speed, context)
        log.info("speech synthesized", extra={
            "voice": job.voice.voice_id, "characters": len(job.text), "audio_seconds": round(speech.duration, 2),
            "cached": cached, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)})
        return speech, cached

    async def SynthesizeSpeech(self, request: speech_pb2.SynthesizeSpeechRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        speech, cached = await self._synthesize(request, context)
        return speech_pb2.SynthesizeSpeechResponse(
            audio_b64=speech.wav, sample_rate=speech.sample_rate, format="wav", cached=cached,
            duration_seconds=speech.duration,
        )

    async def SynthesizeSpeechAudio(self, request: speech_pb2.SynthesizeSpeechAudioRequest,
                                    context: grpc.aio.ServicerContext) -> Any:
        speech, _ = await self._synthesize(request, context)
        return speech_pb2.SynthesizeSpeechAudioResponse(
            audio=httpbody_pb2.HttpBody(content_type=WAV_CONTENT_TYPE, data=speech.wav)
        )

    async def ListVoices(self, request: speech_pb2.ListVoicesRequest, context: grpc.aio.ServicerContext) -> Any:
        page = page_of(request)
        text = request.filter.strip().lower()
        if len(text) > MAX_FILTER_CHARS:
            raise InvalidArgument.field("filter", f"at most {MAX_FILTER_CHARS} characters")
        field, _, direction = request.order_by.strip().lower().partition(" ")
        field, direction = field or "voice_id", direction.strip()
        if field not in ORDERINGS or direction not in ("", "asc", "desc"):
            raise InvalidArgument.field("order_by", f"one of {', '.join(ORDERINGS)}, optionally followed by desc")
        language = normalize_language(request.language)
        if language and (problem := language_problem(language)):
            raise InvalidArgument.field("language", problem)
        self.synthesizer.require()
        voices = [
            v for v in self.synthesizer.voices.all()
            if (not language or v.speaks(language)) and (not text or text in v.voice_id or text in v.name.lower())
        ]
        voices.sort(key=lambda v: (getattr(v, field), v.voice_id), reverse=direction == "desc")
        chosen = voices[page.offset : page.offset + page.limit]
        return speech_pb2.ListVoicesResponse(
            voices=[speech_pb2.Voice(voice_id=v.voice_id, name=v.name, language=v.language, gender=v.gender)
                    for v in chosen],
            next_page_token=page.next_token(len(voices)),
            total_size=len(voices),
        )

    # -- for chat turns in audio (services.speech.chat) ---------------------------

    async def transcribe(self, audio: bytes, language: str, context: grpc.aio.ServicerContext) -> tuple[str, str]:
        """A chat message's transcript and language, as TranscribeAudio gives them (its checks and cache)."""
        reply = await self.TranscribeAudio(speech_pb2.TranscribeAudioRequest(audio=audio, language=language), context)
        return str(reply.transcript), str(reply.detected_language)

    async def speak(self, text: str, language: str, voice_id: str,
                    context: grpc.aio.ServicerContext) -> tuple[bytes, int]:
        """A chat answer as WAV and its sample rate; a long answer is spoken up to the longest a reply carries."""
        self.synthesizer.require()
        request = speech_pb2.SynthesizeSpeechRequest(text=text[: limits.MAX_TEXT_CHARS], language=language,
                                                     voice_id=voice_id)
        job = checks.synthesis(request, self.synthesizer.voices)
        speech, _ = await self._spoken(job.text, job.voice, job.speed, context, truncate=True)
        return speech.wav, speech.sample_rate

    # -- speech to text --------------------------------------------------------

    async def TranscribeAudio(self, request: speech_pb2.TranscribeAudioRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        if request.full_round_trip:
            self.synthesizer.require()
        job = checks.transcription(request, self.synthesizer.voices)
        key = result_key("stt", tenant=_tenant(), engine=self.recognizer.engine, language=job.language,
                         audio=job.audio_sha256)
        transcript = await self.results.transcript(key)
        cached = transcript is not None
        if transcript is None:
            transcript = await self.recognizer.transcribe(request.audio, job.info,
                                                          _budget(context, limits.STT_TIMEOUT))
            await self.results.keep_transcript(key, transcript, self.recognizer.engine)
        reply = speech_pb2.TranscribeAudioResponse(
            transcript=transcript, detected_language=job.language, cached=cached,
            duration_seconds=job.info.duration,
        )
        if job.full_round_trip and job.voice is not None and transcript.strip():
            answer = await self.answerer.answer(transcript, context)
            reply.llm_response = answer
            if answer.strip():
                speech, _ = await self._spoken(answer[: limits.MAX_TEXT_CHARS], job.voice, 1.0, context,
                                               truncate=True)
                reply.audio_b64 = speech.wav
                reply.sample_rate = speech.sample_rate
                if speech.truncated:
                    log.info("round trip answer spoken in part", extra={
                        "characters": len(answer), "audio_seconds": round(speech.duration, 2)})
        log.info("speech transcribed", extra={
            "audio_seconds": round(job.info.duration, 2), "format": job.info.describe(), "cached": cached,
            "round_trip": job.full_round_trip, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)})
        return reply
