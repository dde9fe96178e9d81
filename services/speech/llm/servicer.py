"""LlmService: Generate (seed 003's /api/v1/llm/generate), StreamGenerate and ListModels.

Both generation RPCs look in the cache first (a hit says cached=true, or is
streamed as one chunk and the final message) and store what a provider
finished. Nothing is published on the event bus: the units that own tasks and
agents announce their own work.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc
from agentmesh.v1 import common_pb2, speech_pb2

from services.common import authctx
from services.common.errors import DomainError, InvalidArgument
from services.common.paging import page_of
from services.speech.llm.cache import CompletionCache
from services.speech.llm.generation import Generation, prepare
from services.speech.llm.metrics import LlmMetrics
from services.speech.llm.providers import Completion, ModelInfo, Providers, Usage

log = logging.getLogger("agentmesh.speech.llm")

MAX_FILTER_CHARS = 200
ORDERINGS = ("provider", "model_id")
# Leave the reply this much of the caller's deadline, so a slow provider ends as our DEADLINE_EXCEEDED.
_DEADLINE_MARGIN = 0.05


def usage_message(usage: Usage) -> common_pb2.TokenUsage:
    return common_pb2.TokenUsage(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens
    )


class LlmServicer:
    def __init__(self, providers: Providers, cache: CompletionCache, metrics: LlmMetrics, timeout: float) -> None:
        self.providers = providers
        self.cache = cache
        self.metrics = metrics
        self.timeout = timeout

    def _prepare(self, request: Any, context: grpc.aio.ServicerContext) -> Generation:
        remaining = context.time_remaining()
        timeout = self.timeout
        if remaining is not None and math.isfinite(remaining):
            timeout = max(0.001, min(timeout, remaining - _DEADLINE_MARGIN))
        return prepare(request, authctx.current(), self.providers, timeout)

    async def _cached(self, generation: Generation) -> Completion | None:
        if self.cache.backend == "off":
            return None
        found = await self.cache.get(generation.cache_key)
        self.metrics.looked_up(self.cache.backend, found is not None)
        return found

    async def _store(self, generation: Generation, completion: Completion) -> None:
        if self.cache.backend != "off":
            await self.cache.put(generation.cache_key, completion)

    def _done(self, generation: Generation, completion: Completion, started: float, *, cached: bool) -> None:
        if not cached:
            self.metrics.called(generation.provider.name, "OK", completion.usage)
        log.info(
            "llm generation",
            extra={
                "provider": generation.provider.name, "model": completion.model, "cached": cached,
                "finish_reason": completion.finish_reason, "total_tokens": completion.usage.total_tokens,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    def _failed(self, generation: Generation, exc: DomainError) -> None:
        self.metrics.called(generation.provider.name, exc.code.name)
        log.info("llm generation failed: %s", exc.message,
                 extra={"provider": generation.provider.name, "code": exc.code.name})

    async def Generate(self, request: speech_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        generation = self._prepare(request, context)
        completion = await self._cached(generation)
        cached = completion is not None
        if completion is None:
            try:
                completion = await generation.provider.generate(generation.prompt)
            except DomainError as exc:
                self._failed(generation, exc)
                raise
            await self._store(generation, completion)
        self._done(generation, completion, started, cached=cached)
        return speech_pb2.GenerateResponse(
            text=completion.text, provider=generation.provider.name, model=completion.model,
            usage=usage_message(completion.usage), cached=cached, finish_reason=completion.finish_reason,
        )

    async def StreamGenerate(
        self, request: speech_pb2.StreamGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[speech_pb2.StreamGenerateResponse]:
        started = time.perf_counter()
        generation = self._prepare(request, context)
        provider = generation.provider.name
        completion = await self._cached(generation)
        if completion is not None:
            if completion.text:
                yield speech_pb2.StreamGenerateResponse(
                    delta=completion.text, provider=provider, model=completion.model
                )
            self._done(generation, completion, started, cached=True)
            yield self._last(provider, completion)
            return
        pieces: list[str] = []
        model, finish, usage = generation.prompt.model, "", Usage()
        try:
            async with aclosing(generation.provider.stream(generation.prompt)) as chunks:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.delta:
                        pieces.append(chunk.delta)
                        yield speech_pb2.StreamGenerateResponse(delta=chunk.delta, provider=provider, model=model)
                    if chunk.finish_reason:
                        finish, usage = chunk.finish_reason, chunk.usage or usage
        except DomainError as exc:
            self._failed(generation, exc)
            raise
        except asyncio.CancelledError:
            self.metrics.called(provider, "CANCELLED")
            raise
        completion = Completion("".join(pieces), model, finish or "stop", usage)
        await self._store(generation, completion)  # before the last message: a caller gone by then costs nothing
        self._done(generation, completion, started, cached=False)
        yield self._last(provider, completion)

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
