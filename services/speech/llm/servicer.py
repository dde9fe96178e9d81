"""LlmService: Generate (seed 003's /api/v1/llm/generate), StreamGenerate and ListModels.

Both generation RPCs look in the cache first (a hit says cached=true, or is
streamed as one chunk and the final message) and store what a provider
finished. Nothing is published on the event bus: the units that own tasks and
agents announce their own work.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from types import MappingProxyType
from typing import Any

import grpc
from agentmesh.v1 import analytics_pb2, common_pb2, speech_pb2

from services.common import authctx
from services.common.errors import DomainError, InvalidArgument
from services.common.paging import page_of
from services.common.protoutil import new_id, timestamp
from services.common.settings import UNITS
from services.common.usage import UsageReporter
from services.speech.chat.store import Conversations
from services.speech.llm.cache import CompletionCache
from services.speech.llm.generation import Generation, prepare
from services.speech.llm.metrics import LlmMetrics
from services.speech.llm.providers import Chunk, Completion, ModelInfo, Providers, Usage

log = logging.getLogger("agentmesh.speech.llm")

MAX_FILTER_CHARS = 200
# What a unit acting for a caller may say about a call, as x-usage-<name> metadata (x-usage-agent-id...).
USAGE_PREFIX = "x-usage-"
USAGE_LABELS = frozenset({"agent_id", "team_id", "workflow_id", "subject_id"})
MAX_LABEL_CHARS = 128
ORDERINGS = ("provider", "model_id")
# Leave the reply this much of the caller's deadline, so a slow provider ends as our DEADLINE_EXCEEDED.
_DEADLINE_MARGIN = 0.05


def usage_message(usage: Usage) -> common_pb2.TokenUsage:
    return common_pb2.TokenUsage(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens
    )


def usage_labels(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The x-usage-* labels a unit acting for the caller sent with the call (agent_id, kind...)."""
    labels: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        name = key[len(USAGE_PREFIX):].replace("-", "_") if key.startswith(USAGE_PREFIX) else ""
        if name in USAGE_LABELS and isinstance(value, str) and len(value) <= MAX_LABEL_CHARS:
            labels[name] = value
    return labels


class LlmServicer:
    def __init__(self, providers: Providers, cache: CompletionCache, metrics: LlmMetrics, timeout: float,
                 conversations: Conversations, usage: UsageReporter | None = None) -> None:
        self.providers = providers
        self.cache = cache
        self.metrics = metrics
        self.timeout = timeout
        self.conversations = conversations
        self.usage = usage
        # usage record ids: random per process, then counted (no entropy drawn per call)
        self._record_ids = (f"{prefix}-{n}" for prefix in (new_id("llm"),) for n in itertools.count())

    async def prepare(self, request: Any, context: grpc.aio.ServicerContext,
                      history: Sequence[tuple[str, str]] | None = None) -> Generation:
        """The checked generation; a request naming a conversation gets the caller's conversation as context."""
        remaining = context.time_remaining()
        timeout = self.timeout
        if remaining is not None and math.isfinite(remaining):
            timeout = max(0.001, min(timeout, remaining - _DEADLINE_MARGIN))
        caller = authctx.current()
        if history is None:
            history = await self.conversations.history(request.conversation_id.strip(), caller) \
                if request.conversation_id.strip() else []
        return prepare(request, caller, self.providers, timeout, history)

    async def _cached(self, generation: Generation) -> Completion | None:
        if self.cache.backend == "off":
            return None
        found = await self.cache.get(generation.cache_key)
        self.metrics.looked_up(self.cache.backend, found is not None)
        return found

    async def _store(self, generation: Generation, completion: Completion) -> None:
        if self.cache.backend != "off":
            await self.cache.put(generation.cache_key, completion)

    def _done(self, generation: Generation, completion: Completion, started: float, labels: Mapping[str, str], *,
              cached: bool) -> None:
        if not cached:
            self.metrics.called(generation.provider.name, "OK", completion.usage)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "llm generation",
            extra={
                "provider": generation.provider.name, "model": completion.model, "cached": cached,
                "finish_reason": completion.finish_reason, "total_tokens": completion.usage.total_tokens,
                "elapsed_ms": elapsed_ms,
            },
        )
        used = Usage() if cached else completion.usage  # a cached answer used no tokens
        self._account(generation, labels, completion.model, used, elapsed_ms, "succeeded")

    def _failed(self, generation: Generation, exc: DomainError, started: float, labels: Mapping[str, str]) -> None:
        self.metrics.called(generation.provider.name, exc.code.name)
        log.info("llm generation failed: %s", exc.message,
                 extra={"provider": generation.provider.name, "code": exc.code.name})
        self._account(generation, labels, generation.prompt.model, Usage(),
                      round((time.perf_counter() - started) * 1000, 1), "failed", exc.code.name)

    def _account(self, generation: Generation, labels: Mapping[str, str], model: str, used: Usage,
                 latency_ms: float, outcome: str, error_code: str = "") -> None:
        """One model call for the analytics unit: for whom, for which unit and what (the x-usage-* labels)."""
        caller = authctx.current()
        if self.usage is None or not caller.tenant_id:
            return
        via = caller.via_service.removeprefix("service:")
        self.usage.send(analytics_pb2.UsageRecord(
            record_id=next(self._record_ids), tenant_id=caller.tenant_id, user_id=caller.user_id,
            unit=via if via in UNITS else "speech", kind="llm_call", subject_id=labels.get("subject_id", ""),
            agent_id=labels.get("agent_id", ""), team_id=labels.get("team_id", ""),
            workflow_id=labels.get("workflow_id", ""), provider=generation.provider.name, model=model,
            usage=usage_message(used), latency_ms=latency_ms, outcome=outcome, error_code=error_code,
            occurred_at=timestamp(time.time()),
        ))

    async def complete(self, generation: Generation,
                       labels: Mapping[str, str] = MappingProxyType({})) -> tuple[Completion, bool]:
        """The whole answer, from the cache or the provider, and whether it came from the cache."""
        started = time.perf_counter()
        completion = await self._cached(generation)
        cached = completion is not None
        if completion is None:
            try:
                completion = await generation.provider.generate(generation.prompt)
            except DomainError as exc:
                self._failed(generation, exc, started, labels)
                raise
            await self._store(generation, completion)
        self._done(generation, completion, started, labels, cached=cached)
        return completion, cached

    async def pieces(self, generation: Generation,
                     labels: Mapping[str, str] = MappingProxyType({})) -> AsyncGenerator[Chunk | Completion, None]:
        """The answer as it is produced: chunks of text, then the whole Completion (stored in the cache first)."""
        started = time.perf_counter()
        completion = await self._cached(generation)
        if completion is not None:
            if completion.text:
                yield Chunk(delta=completion.text, model=completion.model)
            self._done(generation, completion, started, labels, cached=True)
            yield completion
            return
        provider = generation.provider.name
        texts: list[str] = []
        model, finish, usage = generation.prompt.model, "", Usage()
        try:
            async with aclosing(generation.provider.stream(generation.prompt)) as chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.delta:
                        texts.append(chunk.delta)
                        yield Chunk(delta=chunk.delta, model=model)
                    if chunk.finish_reason:
                        finish, usage = chunk.finish_reason, chunk.usage or usage
        except DomainError as exc:
            self._failed(generation, exc, started, labels)
            raise
        except asyncio.CancelledError:
            self.metrics.called(provider, "CANCELLED")
            raise
        completion = Completion("".join(texts), model, finish or "stop", usage)
        await self._store(generation, completion)  # before the last message: a caller gone by then costs nothing
        self._done(generation, completion, started, labels, cached=False)
        yield completion

    async def Generate(self, request: speech_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> Any:
        generation = await self.prepare(request, context)
        completion, cached = await self.complete(generation, usage_labels(context))
        return speech_pb2.GenerateResponse(
            text=completion.text, provider=generation.provider.name, model=completion.model,
            usage=usage_message(completion.usage), cached=cached, finish_reason=completion.finish_reason,
        )

    async def StreamGenerate(
        self, request: speech_pb2.StreamGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[speech_pb2.StreamGenerateResponse]:
        generation = await self.prepare(request, context)
        provider = generation.provider.name
        async with aclosing(self.pieces(generation, usage_labels(context))) as pieces:
            async for piece in pieces:
                if isinstance(piece, Chunk):
                    yield speech_pb2.StreamGenerateResponse(delta=piece.delta, provider=provider, model=piece.model)
                else:
                    yield self._last(provider, piece)

    @staticmethod
    def _last(provider: str, completion: Completion) -> speech_pb2.StreamGenerateResponse:
        return speech_pb2.StreamGenerateResponse(
            done=True, finish_reason=completion.finish_reason, usage=usage_message(completion.usage),
            provider=provider, model=completion.model,
        )

    async def ListModels(self, request: speech_pb2.ListModelsRequest, context: grpc.aio.ServicerContext) -> Any:
        page = page_of(request)
        wanted = [self.providers.get(request.provider)] if request.provider else self.providers.all()
        text = request.filter.strip().lower()
        if len(text) > MAX_FILTER_CHARS:
            raise InvalidArgument.field("filter", f"at most {MAX_FILTER_CHARS} characters")
        field, _, direction = request.order_by.strip().lower().partition(" ")
        field = field or "provider"
        if field not in ORDERINGS or direction.strip() not in ("", "asc", "desc"):
            raise InvalidArgument.field("order_by", f"one of {', '.join(ORDERINGS)}, optionally followed by desc")
        listed = await asyncio.gather(*(provider.models() for provider in wanted))
        models: list[ModelInfo] = [m for found in listed for m in found if not text or text in m.model_id.lower()]
        if field == "provider":
            models.sort(key=lambda m: (m.provider, m.model_id), reverse=direction.strip() == "desc")
        else:
            models.sort(key=lambda m: (m.model_id, m.provider), reverse=direction.strip() == "desc")
        chosen = models[page.offset : page.offset + page.limit]
        return speech_pb2.ListModelsResponse(
            models=[speech_pb2.Model(model_id=m.model_id, provider=m.provider, description=m.description)
                    for m in chosen],
            next_page_token=page.next_token(len(models)),
            total_size=len(models),
        )
