"""What the recognizer accepts: WAV headers read and refused with reasons, every sample encoding heard.

The decoding tests run the real recognizer pool (pocketsphinx worker
processes) on one espeak-ng sentence re-encoded as a telephone, a studio and
a consumer recording would be.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
from collections.abc import AsyncIterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from services.common.errors import ResourceExhausted
from services.speech.audio import pcm, wav
from services.speech.audio.metrics import SpeechMetrics
from services.speech.audio.stt import RecognizerPool
from tests.speech.test_audio import needs_espeak, words_back

SENTENCE = "the meeting starts at nine in the morning"


def riff(fmt: bytes, body: bytes, *, data_size: int | None = None, extra: bytes = b"") -> bytes:
    size = len(body) if data_size is None else data_size
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + struct.pack("<I", size) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def extensible(subformat: int, channels: int, rate: int, bits: int) -> bytes:
    guid = struct.pack("<H", subformat) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return fmt_chunk(0xFFFE, channels, rate, bits) + struct.pack("<HHI", 22, bits, 3) + guid


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    count = int(len(signal) * target / rate)
    return np.interp(np.arange(count) * rate / target, np.arange(len(signal)), signal)


def mulaw(signal: np.ndarray) -> bytes:
    """G.711 mu-law encoding of floats in [-1, 1]."""
    values = np.clip(np.round(signal * 32767), -32767, 32767).astype(np.int32)
    sign = np.where(values < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(values), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def spoken() -> tuple[np.ndarray, int]:
    """One sentence from espeak-ng, as floats, and its sample rate."""
    out = subprocess.run(["espeak-ng", "-v", "gmw/en-US+klatt", "--stdout", SENTENCE],
                         capture_output=True, check=True).stdout
    info = wav.parse(out)
    data = out[info.data_offset : info.data_offset + info.data_length]
    return pcm.samples(data, "pcm", 16), info.sample_rate


@pytest.fixture
async def pool() -> AsyncIterator[RecognizerPool]:
    recognizer = RecognizerPool(SpeechMetrics(CollectorRegistry()), workers=1, queued=0)
    yield recognizer
    await recognizer.aclose()


def test_headers_are_read_whatever_the_encoding() -> None:
    stereo_float = riff(fmt_chunk(3, 2, 48_000, 32), bytes(48_000 * 8))
    assert wav.parse(stereo_float).describe() == "float 32-bit, 2 channel(s), 48000 Hz"
    assert wav.parse(stereo_float).duration == 1.0
    ext = wav.parse(riff(extensible(1, 1, 44_100, 24), bytes(44_100 * 3)))
    assert (ext.encoding, ext.bits, ext.duration) == ("pcm", 24, 1.0)
    # A chunk before the data (LIST metadata, odd-sized and padded) is skipped.
    listed = wav.parse(riff(fmt_chunk(7, 1, 8_000, 8), bytes(800), extra=b"LIST\x03\x00\x00\x00abc\x00"))
    assert (listed.encoding, listed.frames) == ("mulaw", 800)
    # A data size that runs past the end (a WAV streamed to a pipe) is read to the end, in whole frames.
    streamed = wav.parse(riff(fmt_chunk(1, 2, 16_000, 16), bytes(1_001), data_size=0x7FFFF000))
    assert streamed.data_length == 1_000 and streamed.frames == 250


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "is empty"),
    (b"OggS\x00\x02" + bytes(50), "is Ogg (Vorbis/Opus), not WAV audio"),
    (b"fLaC" + bytes(50), "is FLAC, not WAV audio"),
    (b"\x1a\x45\xdf\xa3" + bytes(50), "is WebM/Matroska, not WAV audio"),
    (b"\x00\x00\x00\x20ftypM4A " + bytes(50), "is MP4/M4A, not WAV audio"),
    (b"\xff\xfb\x90\x00" + bytes(50), "is MP3 (or AAC/ADTS), not WAV audio"),
    (bytes(range(256)), "is unrecognised binary data"),
    (riff(fmt_chunk(0x11, 1, 8_000, 4), bytes(100)), "format tag 0x0011"),
    (riff(fmt_chunk(1, 1, 16_000, 12), bytes(100)), "12 bits per sample; pcm must be 8/16/24/32-bit"),
    (riff(fmt_chunk(1, 9, 16_000, 16), bytes(180)), "has 9 channels; 1 to 8"),
    (riff(fmt_chunk(1, 1, 4_000, 16), bytes(100)), "4000 Hz; 8000 to 192000 Hz"),
    (riff(struct.pack("<HHIIHH", 1, 2, 16_000, 64_000, 2, 16), bytes(100)), "declares 2 bytes per frame, not 4"),
    (riff(fmt_chunk(1, 1, 16_000, 16), b""), "holds no samples"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated fmt chunk"),
    (b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data before its fmt chunk"),
    (riff(fmt_chunk(1, 1, 16_000, 16), bytes(10))[:36], "has no data chunk"),
])
def test_what_is_not_usable_audio_is_named(data: bytes, expected: str) -> None:
    with pytest.raises(wav.WavError) as refused:
        wav.parse(data)
    assert expected in str(refused.value)


def test_companded_samples_decode_to_g711_values() -> None:
    assert pcm.samples(bytes([0xFF, 0x7F, 0x00, 0x80]), "mulaw", 8).tolist() == [
        0.0, 0.0, -32124 / 32768, 32124 / 32768]
    assert pcm.samples(bytes([0xD5, 0x55, 0xAA, 0x2A]), "alaw", 8).tolist() == [
        8 / 32768, -8 / 32768, 32256 / 32768, -32256 / 32768]


@needs_espeak
async def test_every_encoding_is_heard(pool: RecognizerPool, spoken: tuple[np.ndarray, int]) -> None:
    signal, rate = spoken
    studio = resample(signal, rate, 48_000)
    cd = resample(signal, rate, 44_100)
    phone = resample(signal, rate, 8_000)
    recordings = {
        "stereo float 48 kHz": riff(fmt_chunk(3, 2, 48_000, 32),
                                    np.repeat(studio * 0.5, 2).astype("<f4").tobytes()),
        "24-bit extensible 44.1 kHz": riff(extensible(1, 1, 44_100, 24), b"".join(
            int(v).to_bytes(4, "little", signed=True)[:3] for v in np.round(cd * 8_000_000).astype(np.int64))),
        "mu-law telephone 8 kHz": riff(fmt_chunk(7, 1, 8_000, 8), mulaw(phone)),
        "unsigned 8-bit 16 kHz": riff(fmt_chunk(1, 1, 16_000, 8), np.clip(
            np.round(resample(signal, rate, 16_000) * 127 + 128), 0, 255).astype(np.uint8).tobytes()),
    }
    for name, data in recordings.items():
        heard = await pool.transcribe(data, wav.parse(data), 30.0)
        # Narrow-band telephone audio lacks the upper half of what the wide-band model listens to: it
        # hears about half the words of it (4 of 8 here), and every word of the others.
        assert words_back(SENTENCE, heard) >= (0.4 if "telephone" in name else 0.8), (name, heard)
    assert pool.started == 1  # one worker, loaded once, did all four


@needs_espeak
async def test_a_busy_recognizer_refuses_more_than_it_queues(
    pool: RecognizerPool, spoken: tuple[np.ndarray, int]
) -> None:
    signal, rate = spoken
    data = riff(fmt_chunk(1, 1, rate, 16), np.round(signal * 32767).astype("<i2").tobytes())
    info = wav.parse(data)
    first = asyncio.ensure_future(pool.transcribe(data, info, 30.0))
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhausted) as busy:
        await pool.transcribe(data, info, 30.0)
    assert "speech recognition is busy (1 running, 0 waiting)" in busy.value.message
    assert busy.value.retry_after == 1.0
    assert words_back(SENTENCE, await first) >= 0.7
    await pool.aclose()
    assert pool.started == 0
