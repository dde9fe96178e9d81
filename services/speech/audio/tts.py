"""Text to speech with espeak-ng: one subprocess per synthesis, never more than the gate allows at once.

The text goes in on stdin (never on the command line, where a leading dash
would be read as an option and its length would be bounded), the WAV comes
out on stdout as espeak-ng produces it. Reading stops, and espeak-ng is
killed, as soon as the audio passes what one reply may carry: a 50,000
character text costs a fraction of a second, not a minute of synthesis that
would be thrown away. Everything runs through asyncio's subprocess support,
so the event loop never waits on espeak-ng.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidArgument, Unavailable
from services.speech.audio import limits, wav
from services.speech.audio.limits import Gate
from services.speech.audio.metrics import TTS_ENGINE, SpeechMetrics
from services.speech.audio.voices import VoiceCatalogue
from services.speech.llm.providers import DeadlineExceeded

log = logging.getLogger("agentmesh.speech.tts")

SAMPLE_RATE = 22_050  # what espeak-ng's voices produce
_HEADER_BYTES = 44
_READ = 65_536
_INSTALL_HINT = "install the Debian package espeak-ng (`make install` does it)"


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesized audio as a complete WAV file."""

    wav: bytes
    sample_rate: int
    duration: float
    truncated: bool = False


def max_wav_bytes(seconds: float = limits.MAX_SPEECH_SECONDS) -> int:
    return _HEADER_BYTES + int(seconds * SAMPLE_RATE) * 2


def speech_from_wav(data: bytes, *, truncated: bool = False) -> Speech:
    info = wav.parse(data)
    return Speech(data, info.sample_rate, info.duration, truncated)


class Synthesizer:
    """espeak-ng behind a :class:`Gate`; `executable` None means it is not installed (calls are UNAVAILABLE)."""

    def __init__(self, executable: str | None, version: str, voices: VoiceCatalogue, gate: Gate,
                 metrics: SpeechMetrics) -> None:
        self.executable = executable
        self.version = version
        self.voices = voices
        self.gate = gate
        self.metrics = metrics

    @classmethod
    async def discover(cls, gate: Gate, metrics: SpeechMetrics) -> Synthesizer:
        """Find espeak-ng, its version and its voices; a missing espeak-ng is logged, not fatal to the unit."""
        executable = shutil.which("espeak-ng")
        if executable is None:
            log.warning("text to speech unavailable: espeak-ng not found; %s", _INSTALL_HINT)
            return cls(None, "", VoiceCatalogue(()), gate, metrics)
        try:
            version, languages, variants = await asyncio.wait_for(asyncio.gather(
                _output(executable, "--version"), _output(executable, "--voices"),
                _output(executable, "--voices=variant"),
            ), timeout=20.0)
        except (OSError, TimeoutError) as exc:
            log.warning("text to speech unavailable: espeak-ng did not list its voices (%s)", type(exc).__name__)
            return cls(None, "", VoiceCatalogue(()), gate, metrics)
        words = version.split()
        number = next((w for w in words if w[:1].isdigit()), "unknown")
        voices = VoiceCatalogue.from_listings(languages, variants)
        log.info("text to speech: espeak-ng %s with %d voices", number, len(voices))
        return cls(executable, f"espeak-ng {number}", voices, gate, metrics)

    def require(self) -> str:
        if self.executable is None or not len(self.voices):
            raise Unavailable(f"text to speech is unavailable on this host: espeak-ng is missing; {_INSTALL_HINT}",
                              reason="TTS_ENGINE_MISSING")
        return self.executable

    async def synthesize(self, text: str, voice: str, speed: float, budget: float, *,
                         truncate: bool = False) -> Speech:
        """Speak `text` with espeak-ng's voice `voice` (its -v argument) at `speed` times the normal rate.

        `budget` is the seconds it may take. Audio longer than MAX_SPEECH_SECONDS is INVALID_ARGUMENT naming
        `text`, or with `truncate` is cut there (the round trip's spoken
        answer, whose text the caller gets whole anyway).
        """
        executable = self.require()
        async with self.gate.slot():
            started = time.perf_counter()
            try:
                speech = await self._run(executable, text, voice, speed, budget, truncate)
            except (InvalidArgument, Unavailable, DeadlineExceeded) as exc:
                self.metrics.ran(TTS_ENGINE, exc.code.name)
                raise
            except asyncio.CancelledError:
                self.metrics.ran(TTS_ENGINE, "CANCELLED")
                raise
            self.metrics.ran(TTS_ENGINE, "OK", time.perf_counter() - started, speech.duration)
            return speech

    async def _run(self, executable: str, text: str, voice: str, speed: float, budget: float,
                   truncate: bool) -> Speech:
        wpm = max(80, round(limits.NORMAL_WPM * speed))
        process = await asyncio.create_subprocess_exec(
            executable, "-v", voice, "-s", str(wpm), "-b", "1", "--stdin", "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        cap = max_wav_bytes()
        chunks: list[bytes] = []
        size = 0
        over = False
        feeding = asyncio.create_task(_feed(process, text.encode("utf-8")))
        try:
            async with asyncio.timeout(budget):
                assert process.stdout is not None
                assert process.stderr is not None
                while chunk := await process.stdout.read(_READ):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        over = True
                        break
                if not over:
                    errors = await process.stderr.read()
                    code = await process.wait()
                    if code != 0:
                        detail = errors.decode("utf-8", "replace").strip().splitlines()
                        raise Unavailable(f"text to speech failed: espeak-ng exited with {code}"
                                          + (f" ({detail[0][:200]})" if detail else ""), reason="TTS_ENGINE_FAILED")
        except TimeoutError:
            raise DeadlineExceeded(f"text to speech did not finish within {budget:.1f} s") from None
        finally:
            feeding.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()
        data = b"".join(chunks)
        if over and not truncate:
            raise InvalidArgument(
                f"text: the speech would last longer than {limits.MAX_SPEECH_SECONDS:g} s, the most one reply "
                f"carries; send less text (roughly {_chars_for(speed)} characters at speed {speed:g}) or split it",
                [FieldViolation("text", f"speech longer than {limits.MAX_SPEECH_SECONDS:g} s; send at most "
                                        f"about {_chars_for(speed)} characters at speed {speed:g}, or split it")],
                reason="SPEECH_TOO_LONG",
            )
        try:
            info = wav.parse(data)
        except wav.WavError as exc:
            raise Unavailable(f"text to speech failed: espeak-ng wrote no usable audio ({exc})",
                              reason="TTS_ENGINE_FAILED") from None
        samples = data[info.data_offset : info.data_offset + min(info.data_length, cap - _HEADER_BYTES)]
        # espeak-ng streams its WAV with placeholder sizes; the reply is a well-formed file.
        return speech_from_wav(wav.pcm16_wav(samples, info.sample_rate, info.channels), truncated=over)


def _chars_for(speed: float) -> int:
    """About how many characters of English fit in the longest reply (some 14 per second at speed 1)."""
    return int(limits.MAX_SPEECH_SECONDS * 14 * speed) // 100 * 100


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    """Write the text and close stdin, alongside the reading (a long text would fill the pipe otherwise)."""
    assert process.stdin is not None
    try:
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.close()
        await process.stdin.wait_closed()
    except (BrokenPipeError, ConnectionResetError):
        pass  # espeak-ng ended first (killed at the cap, or failed): its exit code tells


async def _output(executable: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise OSError(f"espeak-ng {' '.join(args)} exited with {process.returncode}")
    return out.decode("utf-8", "replace")
