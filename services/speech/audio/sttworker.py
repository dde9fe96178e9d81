"""A recognizer worker process: pocketsphinx's US English model, loaded once, decoding one upload at a time.

Started by :class:`services.speech.audio.stt.RecognizerPool`; speaks a small
protocol on its stdin and stdout. Each request is one JSON line (the samples'
encoding, bits, channels, rate and byte count) followed by that many bytes of
samples; each answer is one JSON line, ``{"text": ...}`` or ``{"error": ...}``.
Once the model is loaded the worker says ``{"ready": true, "engine": ...}``;
if it cannot load, it says ``{"error": ...}`` and exits. pocketsphinx decodes
while holding the GIL, which is why it runs here and not on a thread of the
unit: the unit's event loop never waits for it, and a decode that outlives its
call's deadline is ended by killing the process.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from typing import IO, Any

# Search limits: as accurate as the defaults on clear speech, in about half the time.
DECODER_OPTIONS: dict[str, Any] = {"maxhmmpf": 5000, "maxwpf": 10}


def _send(channel: IO[bytes], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    channel.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        part = stream.read(size)
        if not part:
            raise EOFError
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def main() -> int:
    # The protocol keeps the real stdout; anything the libraries print goes to stderr instead.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        from pocketsphinx import Decoder  # type: ignore[import-untyped]

        from services.speech.audio.pcm import TARGET_RATE, to_recognizer

        decoder = Decoder(samprate=TARGET_RATE, loglevel="FATAL", **DECODER_OPTIONS)
        engine = f"pocketsphinx {metadata.version('pocketsphinx')}"
    except Exception as exc:  # the unit reports it as UNAVAILABLE, with this text
        _send(channel, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _send(channel, {"ready": True, "engine": engine})
    requests = sys.stdin.buffer
    while True:
        line = requests.readline()
        if not line:
            return 0
        try:
            header = json.loads(line)
            data = _read_exactly(requests, int(header["size"]))
        except (EOFError, ValueError, KeyError, TypeError):
            return 0  # the unit closed the pipe, or the stream is out of step: end, a fresh worker follows
        try:
            samples = to_recognizer(data, str(header["encoding"]), int(header["bits"]), int(header["channels"]),
                                    int(header["rate"]))
            decoder.start_utt()
            decoder.process_raw(samples, full_utt=True)
            decoder.end_utt()
            found = decoder.hyp()
            _send(channel, {"text": found.hypstr if found is not None else ""})
        except Exception as exc:  # the decoder's state is unknown now: report, end, a fresh worker follows
            _send(channel, {"error": f"{type(exc).__name__}: {exc}"})
            return 1


if __name__ == "__main__":
    sys.exit(main())
