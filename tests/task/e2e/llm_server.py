"""An OpenAI-compatible chat-completions server: the stand-in for an outside model the speech unit calls.

It answers `model heard: <prompt>`. A prompt that starts with "hold" is held
until `release()` (or until the caller goes away, which is counted), so tests
can have real tasks in flight at the moment they cancel, time out or kill the
task unit. Every request is counted by prompt.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp import web


class HoldingModelServer:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self.holding = 0
        self._release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._complete)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        # Handlers are cancelled when the caller goes away, so an abandoned call is seen (and counted).
        self._runner = web.AppRunner(self.app, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def release(self) -> None:
        self._release.set()

    async def _complete(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        self.requests[prompt] += 1
        if prompt.startswith("hold"):
            self.holding += 1
            try:
                await self._release.wait()
            except asyncio.CancelledError:
                self.abandoned[prompt] += 1
                raise
            finally:
                self.holding -= 1
        text = f"model heard: {prompt}"
        return web.json_response({
            "id": "cmpl-1", "object": "chat.completion", "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        })
