"""The OpenAI-compatible HTTP provider: OpenAI itself, vLLM, Ollama, llama.cpp's server.

POST {base}/chat/completions (JSON, or `stream: true` read as SSE until
`[DONE]`) and GET {base}/models, over the unit's one aiohttp session. A 429, a
5xx or a lost connection is retried with backoff (honouring Retry-After) a
bounded number of times within the call's time budget, but never once text
has been streamed to the caller. What still fails leaves as a gRPC-shaped
error naming the provider and its address, never the key.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any
from urllib.parse import urlparse

import aiohttp

from services.common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from services.speech.llm.providers import Chunk, Completion, DeadlineExceeded, ModelInfo, Prompt, Usage
from services.speech.llm.retry import Budget, RetryPolicy, retry_after
from services.speech.llm.sse import EventTooLarge, data_events

log = logging.getLogger("agentmesh.speech.llm")

OPENAI_PROVIDER = "openai"
OPENAI_DEFAULT_MODEL = "gpt-3.5-turbo"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
_MESSAGE_LIMIT = 300


class _Retry(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, failure: DomainError, delay: float, why: str) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.delay = delay
        self.why = why


class OpenAiProvider:
    """Any server that speaks the OpenAI chat-completions API."""

    name = OPENAI_PROVIDER

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        default_model: str = OPENAI_DEFAULT_MODEL,
        *,
        retry: RetryPolicy | None = None,
        models_timeout: float = 5.0,
        models_ttl: float = 60.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self.default_model = default_model or OPENAI_DEFAULT_MODEL
        self._retry = retry or RetryPolicy()
        self._models_timeout = models_timeout
        self._models_ttl = models_ttl
        self._models: tuple[float, list[ModelInfo]] | None = None
        parsed = urlparse(self._base)
        port = f":{parsed.port}" if parsed.port else ""
        # Names the provider in errors without the path's query or any user:password part.
        self.label = f"the openai provider at {parsed.scheme}://{parsed.hostname}{port}"

    # -- generation -------------------------------------------------------------------------------

    async def generate(self, prompt: Prompt) -> Completion:
        budget = Budget(self._retry, prompt.timeout, self.name)
        body = self._body(prompt, stream=False)
        while True:
            try:
                async with await self._post(budget, body, prompt.api_key, stream=False) as response:
                    reply = await response.json(content_type=None)
                return self._completion(reply, prompt)
            except _Retry as retry:
                if not await budget.wait_to_retry(retry.delay, retry.why):
                    raise retry.failure from None
            except TimeoutError:
                raise self._timed_out(budget) from None
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                if not await budget.wait_to_retry(self._retry.backoff(budget.attempt), type(exc).__name__):
                    raise self._unreachable(exc, budget) from None
            except ValueError:
                raise self._bad_reply("the reply is not JSON") from None

    async def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        budget = Budget(self._retry, prompt.timeout, self.name)
        body = self._body(prompt, stream=True)
        while True:
            sent_text = False
            try:
                async with (
                    await self._post(budget, body, prompt.api_key, stream=True) as response,
                    aclosing(self._chunks(response, prompt)) as chunks,
                ):
                    async for chunk in chunks:
                        sent_text = sent_text or bool(chunk.delta)
                        yield chunk
                return
            except _Retry as retry:
                if not await budget.wait_to_retry(retry.delay, retry.why):
                    raise retry.failure from None
            except TimeoutError:
                raise self._timed_out(budget) from None
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                # Once the caller has text, another try would send it twice: fail instead.
                if sent_text or not await budget.wait_to_retry(self._retry.backoff(budget.attempt), type(exc).__name__):
                    raise self._unreachable(exc, budget) from None
            except EventTooLarge as exc:
                raise self._bad_reply(str(exc)) from None

    def _body(self, prompt: Prompt, *, stream: bool) -> dict[str, Any]:
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.extend({"role": role, "content": content} for role, content in prompt.history)
        messages.append({"role": "user", "content": prompt.prompt})
        body: dict[str, Any] = dict(prompt.parameters)
        body.update(model=prompt.model or self.default_model, messages=messages, stream=stream)
        if prompt.temperature is not None:
            body["temperature"] = prompt.temperature
        if prompt.max_tokens:
            body["max_tokens"] = prompt.max_tokens
        if stream:
            body.setdefault("stream_options", {"include_usage": True})
        else:
            body.pop("stream_options", None)  # servers refuse it without stream
        return body

    async def _post(
        self, budget: Budget, body: dict[str, Any], api_key: str, *, stream: bool
    ) -> aiohttp.ClientResponse:
        """The response of one attempt when it succeeded (the caller releases it); _Retry or a failure else."""
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        key = api_key or self._api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        remaining = budget.remaining()
        if remaining <= 0:
            raise TimeoutError
        # A stream may run longer than the budget as long as it keeps sending: the budget bounds the wait
        # for the first byte and each gap between chunks.
        timeout = (
            aiohttp.ClientTimeout(total=None, connect=remaining, sock_read=min(remaining, budget.timeout))
            if stream
            else aiohttp.ClientTimeout(total=remaining)
        )
        response = await self._session.post(
            f"{self._base}/chat/completions", json=body, headers=headers, timeout=timeout
        )
        if response.status < 300:
            return response
        async with response:
            text = await _error_text(response)
        failure = self._failure(response.status, text, response.headers.get("Retry-After"), key, budget)
        if response.status in RETRYABLE:
            wanted = retry_after(response.headers.get("Retry-After"))
            if wanted is not None and wanted > self._retry.max_retry_after:
                raise failure
            delay = wanted if wanted is not None else self._retry.backoff(budget.attempt)
            raise _Retry(failure, delay, f"HTTP {response.status}")
        raise failure

    async def _chunks(self, response: aiohttp.ClientResponse, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        if response.content_type == "application/json":
            # A server that ignores `stream` answers with the whole completion: one chunk, then the end.
            try:
                whole = self._completion(await response.json(content_type=None), prompt)
            except ValueError:
                raise self._bad_reply("the reply is not JSON") from None
            if whole.text:
                yield Chunk(delta=whole.text, model=whole.model)
            yield Chunk(finish_reason=whole.finish_reason, usage=whole.usage, model=whole.model)
            return
        model = prompt.model or self.default_model
        finish, usage, pieces = "", None, 0
        async with aclosing(data_events(response.content.iter_any())) as events:
            async for data in events:
                try:
                    event = json.loads(data)
                except ValueError:
                    raise self._bad_reply("a streamed event is not JSON") from None
                if not isinstance(event, dict):
                    raise self._bad_reply("a streamed event is not a JSON object")
                if event.get("error"):
                    raise Unavailable(f"{self.label} failed while streaming: {_message(event, prompt.api_key)}",
                                      reason="PROVIDER_FAILED")
                model = str(event.get("model") or model)
                usage = _usage(event.get("usage")) or usage
                for choice in event.get("choices") or ():
                    if not isinstance(choice, dict):
                        continue
                    delta = choice.get("delta") or {}
                    content = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(content, str) and content:
                        pieces += 1
                        yield Chunk(delta=content, model=model)
                    finish = str(choice.get("finish_reason") or finish)
        # Without usage from the server, count one token per streamed piece (what OpenAI-style servers send).
        yield Chunk(finish_reason=finish or "stop", usage=usage or Usage(0, pieces), model=model)

    def _completion(self, reply: Any, prompt: Prompt) -> Completion:
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list) or not reply["choices"]:
            raise self._bad_reply("the reply has no choices")
        choice = reply["choices"][0]
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise self._bad_reply("the reply's first choice has no message")
        content = message.get("content")
        return Completion(
            text=content if isinstance(content, str) else "",
            model=str(reply.get("model") or prompt.model or self.default_model),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            usage=_usage(reply.get("usage")) or Usage(),
        )

    # -- models -----------------------------------------------------------------------------------

    async def models(self) -> list[ModelInfo]:
        """The server's /models, remembered for a minute; the default model alone when it does not answer."""
        now = time.monotonic()
        if self._models is not None and now - self._models[0] < self._models_ttl:
            return list(self._models[1])
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with self._session.get(
                f"{self._base}/models", headers=headers, timeout=aiohttp.ClientTimeout(total=self._models_timeout)
            ) as response:
                reply = await response.json(content_type=None) if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("llm provider lists no models", extra={"provider": self.name, "error": type(exc).__name__})
            reply = None
        # The fallback is remembered too: a server that is down is asked again in a minute, not on every call.
        found = _model_list(reply) or [
            ModelInfo(self.default_model, self.name, f"configured default model of {self.label}")
        ]
        self._models = (now, found)
        return list(found)

    # -- failures ---------------------------------------------------------------------------------

    def _failure(self, status: int, text: str, retry_header: str | None, key: str, budget: Budget) -> DomainError:
        """The gRPC-shaped error of a final HTTP failure; auth failures never quote the server (it may echo the key)."""
        meta = {"provider": self.name, "http_status": str(status)}
        if status == 429:
            return ResourceExhausted(
                f"{self.label} is rate-limiting this platform (HTTP 429); try again later",
                retry_after=retry_after(retry_header), reason="PROVIDER_RATE_LIMITED", metadata=meta,
            )
        if status == 401:
            return FailedPrecondition(
                f"{self.label} rejected the API key (HTTP 401); set OPENAI_API_KEY or the agent's own key",
                reason="PROVIDER_UNAUTHENTICATED", metadata=meta,
            )
        if status == 403:
            return PermissionDenied(
                f"{self.label} refused the request (HTTP 403); the API key may not use this model",
                reason="PROVIDER_FORBIDDEN", metadata=meta,
            )
        detail = _message(_json_or_text(text), key)
        if status >= 500:
            return Unavailable(
                f"{self.label} failed (HTTP {status}) after {budget.attempt} attempt(s): {detail}",
                reason="PROVIDER_UNAVAILABLE", metadata=meta,
            )
        if status == 404:
            return NotFound(f"{self.label} answered 404: {detail}", reason="PROVIDER_NOT_FOUND", metadata=meta)
        if status in (400, 422):
            return InvalidArgument(f"{self.label} rejected the request: {detail}", reason="PROVIDER_REJECTED",
                                   metadata=meta)
        if status == 408:
            return DeadlineExceeded(f"{self.label} timed out (HTTP 408)", metadata=meta)
        return FailedPrecondition(f"{self.label} answered HTTP {status}: {detail}", reason="PROVIDER_FAILED",
                                  metadata=meta)

    def _timed_out(self, budget: Budget) -> DeadlineExceeded:
        return DeadlineExceeded(f"{self.label} did not answer within {budget.timeout:g} s",
                                metadata={"provider": self.name})

    def _unreachable(self, exc: Exception, budget: Budget) -> Unavailable:
        return Unavailable(
            f"{self.label} is unreachable after {budget.attempt} attempt(s) ({type(exc).__name__})",
            reason="PROVIDER_UNREACHABLE", metadata={"provider": self.name},
        )

    def _bad_reply(self, why: str) -> Unavailable:
        return Unavailable(f"{self.label} sent no usable chat completion: {why}", reason="PROVIDER_BAD_REPLY",
                           metadata={"provider": self.name})


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        return (await response.content.read(16_384)).decode("utf-8", errors="replace")
    except (aiohttp.ClientError, TimeoutError):
        return ""


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message(reply: Any, key: str) -> str:
    """The server's own words about a failure, short, with the key cut out should it be quoted."""
    found: Any = reply
    if isinstance(reply, dict):
        error = reply.get("error")
        found = error.get("message") if isinstance(error, dict) else error or reply.get("detail") or reply
    text = " ".join(str(found).split())[:_MESSAGE_LIMIT] or "no detail"
    return text.replace(key, "[redacted]") if len(key) >= 4 else text


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Usage(int(value.get("prompt_tokens") or 0), int(value.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


def _model_list(reply: Any) -> list[ModelInfo]:
    entries = reply.get("data") if isinstance(reply, dict) else None
    found = []
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            owner = entry.get("owned_by")
            found.append(ModelInfo(entry["id"], OPENAI_PROVIDER, f"owned by {owner}" if owner else ""))
    return found
