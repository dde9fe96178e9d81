"""From SpeechService requests to checked jobs, or one INVALID_ARGUMENT naming every field that is wrong.

Everything a request can get wrong is found here, before a cache is consulted
or an engine started: empty, oversized, too long or undecodable audio (saying
what the bytes are and which formats are accepted), a declared content type
that is not WAV, a language the engine does not speak, an unknown voice or one
of another language, a speed or format out of range, text that is empty or
longer than seed 003's 50,000 characters.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import FieldViolation, InvalidArgument
from services.speech.audio import limits, wav
from services.speech.audio.voices import Voice, VoiceCatalogue, language_problem, normalize_language

FORMATS = {"": "wav", "wav": "wav", "wave": "wav", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav"}
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/x-pn-wav"})
# What a client sends when it does not know the type: detect it from the bytes.
UNSPECIFIC_TYPES = frozenset({"", "application/octet-stream", "audio/*", "binary/octet-stream"})
MAX_CONTENT_TYPE_CHARS = 200
# C0 controls other than tab, line feed and carriage return are spoken as nothing: they become spaces.
_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SynthesizeLike(Protocol):
    """The fields SynthesizeSpeechRequest and SynthesizeSpeechAudioRequest share."""

    text: str
    language: str
    voice_id: str
    speed: float
    format: str

    def HasField(self, field_name: str) -> bool: ...


class TranscribeLike(Protocol):
    audio: bytes
    full_round_trip: bool
    language: str
    content_type: str
    voice_id: str


@dataclass(frozen=True, slots=True)
class Synthesis:
    text: str  # as espeak-ng is given it
    voice: Voice
    speed: float
    format: str


@dataclass(frozen=True, slots=True)
class Transcription:
    info: wav.WavInfo
    language: str
    audio_sha256: str
    full_round_trip: bool
    voice: Voice | None  # the voice of the spoken answer (full_round_trip only)


def invalid(violations: list[FieldViolation]) -> InvalidArgument:
    return InvalidArgument("; ".join(f"{v.field}: {v.description}" for v in violations), violations)


def synthesis(request: SynthesizeLike, voices: VoiceCatalogue) -> Synthesis:
    violations: list[FieldViolation] = []
    text = request.text
    if not text.strip():
        violations.append(FieldViolation("text", f"must not be empty (1 to {limits.MAX_TEXT_CHARS} characters)"))
    elif len(text) > limits.MAX_TEXT_CHARS:
        violations.append(FieldViolation("text", f"at most {limits.MAX_TEXT_CHARS} characters; got {len(text)}"))
    elif "\x00" in text:
        violations.append(FieldViolation("text", "must not contain NUL characters"))
    voice, problems = voices.pick(request.language, request.voice_id)
    violations.extend(problems)
    speed = 1.0
    if request.HasField("speed"):
        # float32 on the wire: 1.1 arrives as 1.10000002; two decimals give the caller's number back.
        speed = float(request.speed)
        if not math.isfinite(speed) or not limits.MIN_SPEED <= round(speed, 2) <= limits.MAX_SPEED:
            violations.append(FieldViolation(
                "speed", f"between {limits.MIN_SPEED} and {limits.MAX_SPEED} times the normal rate (1.0)"))
        else:
            speed = round(speed, 2)
    audio_format = FORMATS.get(request.format.strip().lower())
    if audio_format is None:
        violations.append(FieldViolation(
            "format", f"unsupported format {request.format.strip()[:40]!r}; this unit produces wav "
                      "(16-bit PCM, mono, 22050 Hz)"))
    if violations or voice is None or audio_format is None:
        raise invalid(violations)
    return Synthesis(_CONTROLS.sub(" ", text), voice, speed, audio_format)


def transcription(request: TranscribeLike, voices: VoiceCatalogue) -> Transcription:
    """Check the upload and its options; the WAV header is read here, the samples are not."""
    violations: list[FieldViolation] = []
    info = _audio(request, violations)
    language = normalize_language(request.language) or limits.STT_LANGUAGES[0]
    understood = False
    if problem := language_problem(language):
        violations.append(FieldViolation("language", problem))
    elif language.split("-")[0] not in limits.STT_LANGUAGES:
        violations.append(FieldViolation(
            "language", f"speech recognition here understands {', '.join(limits.STT_LANGUAGES)} only "
                        f"(the US English model pocketsphinx ships); got {language!r}"))
    else:
        understood = True
    voice: Voice | None = None
    if request.full_round_trip or request.voice_id.strip():
        # The answer is spoken in the language of the question; voice_id may pick another voice of it.
        voice, problems = voices.pick(language if understood else "", request.voice_id)
        violations.extend(problems)
    if violations or info is None:
        raise invalid(violations)
    return Transcription(info, language.split("-")[0], hashlib.sha256(request.audio).hexdigest(),
                         request.full_round_trip, voice)


def _audio(request: TranscribeLike, violations: list[FieldViolation]) -> wav.WavInfo | None:
    audio = request.audio
    declared = request.content_type.split(";")[0].strip().lower()
    if len(request.content_type) > MAX_CONTENT_TYPE_CHARS:
        violations.append(FieldViolation("content_type", f"at most {MAX_CONTENT_TYPE_CHARS} characters"))
    elif declared not in UNSPECIFIC_TYPES and declared not in WAV_TYPES:
        what = "is not supported" if declared.startswith(("audio/", "video/")) else "is not an audio type"
        violations.append(FieldViolation(
            "content_type", f"{declared[:60]} {what}; send WAV (audio/wav): {wav.ACCEPTED}"))
    if not audio:
        violations.append(FieldViolation(
            "audio", f"must not be empty: send the recording as {wav.ACCEPTED} (base64 in JSON)"))
        return None
    if len(audio) > limits.MAX_AUDIO_BYTES:
        violations.append(FieldViolation(
            "audio", f"{len(audio)} bytes; at most {limits.MAX_AUDIO_BYTES} bytes (16 kHz 16-bit mono WAV takes "
                     "32,000 bytes a second)"))
        return None
    try:
        info = wav.parse(audio)
    except wav.WavError as exc:
        violations.append(FieldViolation("audio", str(exc)))
        return None
    if info.duration > limits.MAX_AUDIO_SECONDS:
        violations.append(FieldViolation(
            "audio", f"lasts {info.duration:.1f} s; at most {limits.MAX_AUDIO_SECONDS:g} s are transcribed at once"))
        return None
    return info
