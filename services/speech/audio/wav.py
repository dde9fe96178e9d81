"""WAV in and out: what a RIFF/WAVE file holds, read from its header alone, and a WAV written from PCM.

Reading only walks the chunk headers (no sample is touched), so it is cheap
enough for the event loop and runs before any cache look-up or engine call:
whatever is wrong with an upload is said here, naming what was found and what
is accepted. Other containers are recognised by their magic bytes so the error
can say "this is MP3", not just "not WAV".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# WAVE format tags this unit decodes, and what they are called in messages.
PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
ENCODINGS = {PCM: "pcm", IEEE_FLOAT: "float", ALAW: "alaw", MULAW: "mulaw"}
# Bits per sample each encoding may have.
WIDTHS = {"pcm": (8, 16, 24, 32), "float": (32, 64), "alaw": (8,), "mulaw": (8,)}
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 8
ACCEPTED = (
    "WAV (RIFF/WAVE) with PCM 8/16/24/32-bit, float 32/64-bit, mu-law or A-law samples, "
    f"1 to {MAX_CHANNELS} channels, {MIN_RATE} to {MAX_RATE} Hz"
)
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")
# Magic bytes of containers people send instead of WAV: (offset, bytes, name).
_SIGNATURES = (
    (0, b"ID3", "MP3"),
    (0, b"OggS", "Ogg (Vorbis/Opus)"),
    (0, b"fLaC", "FLAC"),
    (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"),
    (4, b"ftyp", "MP4/M4A"),
    (0, b"FORM", "AIFF"),
    (0, b"#!AMR", "AMR"),
    (0, b"RF64", "RF64 (64-bit WAV)"),
    (0, b".snd", "Sun/NeXT AU"),
    (0, b"%PDF", "a PDF document"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"PK\x03\x04", "a ZIP archive"),
)


class WavError(ValueError):
    """What is wrong with an upload, worded for the caller (the field is the caller's to name)."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    """The header of a WAV file and where its samples are."""

    encoding: str  # pcm, float, alaw, mulaw
    bits: int
    channels: int
    sample_rate: int
    data_offset: int
    data_length: int  # whole frames only

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    @property
    def frames(self) -> int:
        return self.data_length // self.frame_bytes

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def describe(self) -> str:
        return f"{self.encoding} {self.bits}-bit, {self.channels} channel(s), {self.sample_rate} Hz"


def sniff(data: bytes) -> str:
    """What the bytes look like: WAV, a known other container, text, or unknown bytes (for messages)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "MP3 (or AAC/ADTS)"
    head = data[:512]
    if b"\x00" in head:
        return "unrecognised binary data"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            return "unrecognised binary data"
    return "text"


def parse(data: bytes) -> WavInfo:
    """The header of a WAV file; :class:`WavError` saying what is wrong otherwise.

    A data chunk whose declared size runs past the end (a WAV streamed to a
    pipe, as espeak-ng and many recorders write it) is read to the end of the
    bytes, as most players do; a trailing partial frame is dropped.
    """
    if not data:
        raise WavError("is empty; send " + ACCEPTED)
    kind = sniff(data)
    if kind != "WAV":
        raise WavError(f"is {kind}, not WAV audio; this unit decodes {ACCEPTED}")
    fmt: tuple[int, int, int, int, int, int] | None = None
    subformat = 0
    offset = 12
    while offset + _CHUNK.size <= len(data):
        chunk_id, size = _CHUNK.unpack_from(data, offset)
        body = offset + _CHUNK.size
        if chunk_id == b"fmt ":
            if size < _FMT.size or body + _FMT.size > len(data):
                raise WavError("has a truncated fmt chunk: the WAV header is damaged")
            fmt = _FMT.unpack_from(data, body)
            if fmt[0] == EXTENSIBLE:
                if size < 40 or body + 26 > len(data):
                    raise WavError("has a truncated WAVE_FORMAT_EXTENSIBLE header")
                subformat = struct.unpack_from("<H", data, body + 24)[0]
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("has its data before its fmt chunk: the WAV header is damaged")
            length = min(size, len(data) - body)
            return _info(fmt, subformat, body, length)
        offset = body + size + (size & 1)
    raise WavError("has no " + ("data" if fmt is not None else "fmt") + " chunk: the WAV file is damaged or cut short")


def _info(fmt: tuple[int, int, int, int, int, int], subformat: int, offset: int, length: int) -> WavInfo:
    tag, channels, rate, _byte_rate, block_align, bits = fmt
    code = subformat if tag == EXTENSIBLE else tag
    encoding = ENCODINGS.get(code)
    if encoding is None:
        raise WavError(f"is WAV with format tag 0x{code:04x} (compressed or unusual); this unit decodes {ACCEPTED}")
    if bits not in WIDTHS[encoding]:
        allowed = "/".join(str(w) for w in WIDTHS[encoding])
        raise WavError(f"is {encoding} WAV with {bits} bits per sample; {encoding} must be {allowed}-bit")
    if not 1 <= channels <= MAX_CHANNELS:
        raise WavError(f"has {channels} channels; 1 to {MAX_CHANNELS} are accepted")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavError(f"has a sample rate of {rate} Hz; {MIN_RATE} to {MAX_RATE} Hz are accepted")
    if block_align != channels * bits // 8:
        raise WavError(f"declares {block_align} bytes per frame, not {channels * bits // 8}: the header is damaged")
    length -= length % block_align
    if length <= 0:
        raise WavError("holds no samples")
    return WavInfo(encoding, bits, channels, rate, offset, length)


def pcm16_wav(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """A canonical 44-byte-header WAV around little-endian 16-bit PCM."""
    pcm = pcm[: len(pcm) - len(pcm) % (2 * channels)]
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<I", 16) + _FMT.pack(PCM, channels, sample_rate, sample_rate * 2 * channels,
                                                           2 * channels, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm
