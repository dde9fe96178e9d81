"""The LLM path's Prometheus series, in the unit's registry so they show on its /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.speech.llm.providers import Usage


class LlmMetrics:
    """Cache hits and misses, provider calls by outcome, tokens by provider."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.cache = Counter(
            "agentmesh_llm_cache_requests_total",
            "LLM cache look-ups, by backend (memory, redis) and result (hit, miss).",
            ("backend", "result"),
            registry=registry,
        )
        self.calls = Counter(
            "agentmesh_llm_provider_calls_total",
            "Calls to LLM providers (cache misses), by provider and outcome (OK or the gRPC code).",
            ("provider", "outcome"),
            registry=registry,
        )
        self.tokens = Counter(
            "agentmesh_llm_tokens_total",
            "Tokens that provider calls consumed, by provider and kind (prompt, completion).",
            ("provider", "kind"),
            registry=registry,
        )

    def looked_up(self, backend: str, hit: bool) -> None:
        self.cache.labels(backend, "hit" if hit else "miss").inc()

    def called(self, provider: str, outcome: str, usage: Usage | None = None) -> None:
        self.calls.labels(provider, outcome).inc()
        if usage is not None:
            self.tokens.labels(provider, "prompt").inc(usage.prompt_tokens)
            self.tokens.labels(provider, "completion").inc(usage.completion_tokens)
