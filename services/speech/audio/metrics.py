"""The audio path's Prometheus series, in the unit's registry so they show on its /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

TTS_ENGINE = "espeak-ng"
STT_ENGINE = "pocketsphinx"


class SpeechMetrics:
    """Cache hits and misses by kind, engine runs by outcome and duration, seconds of audio handled."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.cache = Counter(
            "agentmesh_speech_cache_requests_total",
            "TTS/STT result cache look-ups, by kind (tts, stt), backend (memory, redis) and result (hit, miss).",
            ("kind", "backend", "result"),
            registry=registry,
        )
        self.runs = Counter(
            "agentmesh_speech_engine_runs_total",
            "Runs of the speech engines (cache misses), by engine (espeak-ng, pocketsphinx) and outcome "
            "(OK or the gRPC code).",
            ("engine", "outcome"),
            registry=registry,
        )
        self.seconds = Histogram(
            "agentmesh_speech_engine_seconds",
            "Wall time of successful engine runs, by engine.",
            ("engine",),
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        )
        self.audio = Counter(
            "agentmesh_speech_audio_seconds_total",
            "Seconds of audio the engines produced or heard (cache misses), by kind (tts, stt).",
            ("kind",),
            registry=registry,
        )

    def looked_up(self, kind: str, backend: str, hit: bool) -> None:
        self.cache.labels(kind, backend, "hit" if hit else "miss").inc()

    def ran(self, engine: str, outcome: str, elapsed: float = 0.0, audio_seconds: float = 0.0) -> None:
        self.runs.labels(engine, outcome).inc()
        if outcome == "OK":
            self.seconds.labels(engine).observe(elapsed)
            self.audio.labels("tts" if engine == TTS_ENGINE else "stt").inc(audio_seconds)
