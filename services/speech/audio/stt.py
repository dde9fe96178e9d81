"""Speech to text with pocketsphinx, in a pool of worker processes (services/speech/audio/sttworker.py).

pocketsphinx holds the GIL while it decodes (seconds for a long upload), so it
never runs in the unit's process: each worker loads the model once and then
decodes one upload at a time, and at most `workers` decode at once, with at
most `queued` calls waiting behind them (more are RESOURCE_EXHAUSTED). Workers
start on first use and stay; one whose call runs out of time, is cancelled,
or fails is killed and replaced by a fresh one on the next call, so a stuck
decode never holds a slot beyond its caller's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from services.common.errors import DomainError, Unavailable
from services.speech.audio import limits
from services.speech.audio.limits import Gate
from services.speech.audio.metrics import STT_ENGINE, SpeechMetrics
from services.speech.audio.wav import WavInfo
from services.speech.llm.providers import DeadlineExceeded

log = logging.getLogger("agentmesh.speech.stt")

_ROOT = str(Path(__file__).resolve().parents[3])
# The worker runs with this interpreter and this checkout on its path, whatever the environment says.
WORKER_COMMAND: tuple[str, ...] = (
    sys.executable, "-c",
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from services.speech.audio.sttworker import main; raise SystemExit(main())",
    _ROOT,
)
_START_TIMEOUT = 60.0
_LINE_LIMIT = 1 << 20
_INSTALL_HINT = "install the Python packages in requirements.txt (`make install` does it)"


def installed_engine() -> str:
    """`pocketsphinx 5.1.1`, from the package's metadata (without importing it); '' when it is missing."""
    try:
        return f"{STT_ENGINE} {metadata.version('pocketsphinx')}"
    except metadata.PackageNotFoundError:
        return ""


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process, engine: str) -> None:
        self.process = process
        self.engine = engine

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ask(self, header: dict[str, Any], payload: bytes) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(header).encode() + b"\n")
        stdin.write(payload)
        await stdin.drain()
        line = await stdout.readline()
        if not line:
            code = await self.process.wait()
            raise Unavailable(f"speech recognition failed: the recognizer process ended (exit code {code})",
                              reason="STT_ENGINE_FAILED")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(self.process.wait())


class RecognizerPool:
    """Up to `workers` pocketsphinx processes behind a :class:`Gate`."""

    def __init__(self, metrics: SpeechMetrics, *, workers: int = limits.STT_WORKERS, queued: int = limits.MAX_QUEUED,
                 command: Sequence[str] = WORKER_COMMAND) -> None:
        self.metrics = metrics
        self.gate = Gate("speech recognition", workers, queued)
        self.command = tuple(command)
        self.engine = installed_engine()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False

    @property
    def started(self) -> int:
        """Worker processes running now."""
        return len(self._idle) + len(self._busy)

    async def transcribe(self, data: bytes, info: WavInfo, budget: float) -> str:
        """The words pocketsphinx hears in the samples `info` describes (lower-case, no punctuation).

        `budget` is the seconds the recognition may take, waiting for a worker included.
        """
        async with self.gate.slot():
            started = time.perf_counter()
            try:
                text = await self._transcribe(data, info, budget)
            except DomainError as exc:
                self.metrics.ran(STT_ENGINE, exc.code.name)
                raise
            except asyncio.CancelledError:
                self.metrics.ran(STT_ENGINE, "CANCELLED")
                raise
            self.metrics.ran(STT_ENGINE, "OK", time.perf_counter() - started, info.duration)
            return text

    async def _transcribe(self, data: bytes, info: WavInfo, budget: float) -> str:
        header = {"encoding": info.encoding, "bits": info.bits, "channels": info.channels,
                  "rate": info.sample_rate, "size": info.data_length}
        payload = data[info.data_offset : info.data_offset + info.data_length]
        worker: _Worker | None = None
        keep = False
        try:
            async with asyncio.timeout(budget):
                worker = await self._take()
                answer = await worker.ask(header, payload)
            if "error" in answer:
                raise Unavailable(f"speech recognition failed: {str(answer['error'])[:300]}",
                                  reason="STT_ENGINE_FAILED")
            keep = True
            return str(answer.get("text", ""))
        except TimeoutError:
            raise DeadlineExceeded(f"speech recognition did not finish within {budget:.1f} s") from None
        finally:
            if worker is not None:
                self._busy.discard(worker)
                if keep and worker.alive and not self._closed:
                    self._idle.append(worker)
                else:
                    await worker.stop()

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                self._busy.add(worker)
                return worker
            await worker.stop()
        worker = await self._start()
        self._busy.add(worker)
        return worker

    async def _start(self) -> _Worker:
        if self._closed:
            raise Unavailable("the speech unit is shutting down", reason="SHUTTING_DOWN")
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=_LINE_LIMIT,
            )
        except OSError as exc:
            raise Unavailable(f"speech recognition is unavailable on this host: {exc}",
                              reason="STT_ENGINE_MISSING") from None
        worker = _Worker(process, "")
        try:
            assert process.stdout is not None
            async with asyncio.timeout(_START_TIMEOUT):
                line = await process.stdout.readline()
            hello: dict[str, Any] = json.loads(line) if line else {"error": "the recognizer process ended at start"}
        except BaseException:
            await worker.stop()
            raise
        if not hello.get("ready"):
            await worker.stop()
            reason = str(hello.get("error", "no answer"))[:300]
            log.warning("speech recognition unavailable: %s", reason)
            raise Unavailable(f"speech recognition is unavailable on this host: {reason}; {_INSTALL_HINT}",
                              reason="STT_ENGINE_MISSING")
        worker.engine = str(hello.get("engine", self.engine))
        log.info("speech recognition worker started", extra={"pid": process.pid, "engine": worker.engine})
        return worker

    async def aclose(self) -> None:
        self._closed = True
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        await asyncio.gather(*(worker.stop() for worker in workers))
