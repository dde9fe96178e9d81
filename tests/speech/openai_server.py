"""A local server that speaks the OpenAI chat-completions API for real: the test double of an outside system.

It answers POST /v1/chat/completions as JSON or as SSE chunks ending with
`data: [DONE]`, and GET /v1/models. Every request is recorded (path, the
Authorization header, the JSON body) so tests can count provider calls and
see what was sent. Failures are scripted: `fail_next(...)` queues answers for
the next requests (429 with Retry-After, 500, 401 echoing the key as OpenAI
does, a slow reply, a stream cut after its first chunk), `fail_always(...)`
answers every request so.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODELS = ("fake-small", "fake-large")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    authorization: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """One scripted answer: an HTTP status (with headers), a delay, a stream cut short or not streamed."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_stream: bool = False
    # Answer a `stream: true` request with one JSON completion, as servers that ignore `stream` do.
    ignore_stream: bool = False


def answer_for(body: dict[str, Any]) -> str:
    """What the fake model answers: derived from the last user message, so tests can predict it."""
    user = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return f"The fake model heard: {user[-1] if user else ''}"


def _tokens(text: str) -> int:
    return len(text.split())


class FakeOpenAi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.base_url = ""  # set once the server listens, e.g. http://127.0.0.1:PORT/v1
        self._next: deque[Failure] = deque()
        self._always: Failure | None = None
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._completions)
        self.app.router.add_get("/v1/models", self._models)

    def fail_next(self, *failures: Failure) -> None:
        self._next.extend(failures)

    def fail_always(self, failure: Failure | None) -> None:
        self._always = failure

    def completions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _scripted(self) -> Failure | None:
        return self._next.popleft() if self._next else self._always

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        authorization = request.headers.get("Authorization", "")
        self.requests.append(Recorded(request.method, request.path, authorization, body))
        failure = self._scripted()
        if failure is not None and failure.delay:
            await asyncio.sleep(failure.delay)
        if failure is not None and failure.status:
            return self._error(failure, authorization)
        words = answer_for(body).split(" ")
        limit = int(body.get("max_tokens") or 0)
        finish = "stop"
        if limit and len(words) > limit:
            words, finish = words[:limit], "length"
        text = " ".join(words)
        model = str(body["model"])
        usage = {
            "prompt_tokens": sum(_tokens(m["content"]) for m in body["messages"]),
            "completion_tokens": len(words),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream") or (failure is not None and failure.ignore_stream):
            return web.json_response({
                "id": "chatcmpl-1", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": usage,
            })
        return await self._stream(request, body, model, words, finish, usage, failure)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], model: str, words: list[str], finish: str,
        usage: dict[str, int], failure: Failure | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model, **payload}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for i, word in enumerate(words):
            piece = word if i == 0 else f" {word}"
            await send({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            if failure is not None and failure.cut_stream:
                assert request.transport is not None
                request.transport.close()  # the connection drops after the first piece of text
                return response
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _error(self, failure: Failure, authorization: str) -> web.Response:
        if failure.status == 401:
            # As OpenAI does: the error quotes (part of) the key it refused.
            key = authorization.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}."
        else:
            message = f"scripted failure {failure.status}"
        return web.json_response(
            {"error": {"message": message, "type": "test", "code": failure.status}},
            status=failure.status, headers=failure.headers,
        )

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(Recorded(request.method, request.path, request.headers.get("Authorization", ""), {}))
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "tests"} for m in MODELS]}
        )
