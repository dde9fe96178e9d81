"""The built-in deterministic `echo` provider, for development: no model, no network.

It answers ``"echo: <prompt>"`` so that the whole platform (tasks, agents,
chat) can run on one machine with nothing to install, and so that tests can
predict every answer. It is named "echo" in every response's `provider` field
and described as the development echo in ListModels: nobody can mistake it
for a language model.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

from services.speech.llm.providers import Chunk, Completion, ModelInfo, Prompt, Usage

ECHO_PROVIDER = "echo"
ECHO_MODEL = "echo-1"
ECHO_DESCRIPTION = "development echo: answers 'echo: <prompt>', deterministic, not a language model"
# A word with the whitespace before it: joined back together they give the text unchanged.
_PIECE = re.compile(r"\s*\S+|\s+$")


def count_tokens(text: str) -> int:
    """The echo's token count: one per whitespace-separated word, so it follows the text exactly."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """The text in word chunks whose concatenation is the text."""
    return _PIECE.findall(text)


class EchoProvider:
    """The development echo: the answer is derived from the prompt alone (temperature changes nothing)."""

    name = ECHO_PROVIDER

    def __init__(self, default_model: str = ECHO_MODEL) -> None:
        self.default_model = default_model or ECHO_MODEL

    def _answer(self, prompt: Prompt) -> tuple[list[str], str]:
        words = pieces(f"echo: {prompt.prompt}")
        if prompt.max_tokens and len(words) > prompt.max_tokens:
            return words[: prompt.max_tokens], "length"
        return words, "stop"

    def _usage(self, prompt: Prompt, answer: str) -> Usage:
        context = sum(count_tokens(content) for _, content in prompt.history)
        return Usage(count_tokens(prompt.system) + context + count_tokens(prompt.prompt), count_tokens(answer))

    async def generate(self, prompt: Prompt) -> Completion:
        words, finish = self._answer(prompt)
        text = "".join(words)
        return Completion(text, prompt.model or self.default_model, finish, self._usage(prompt, text))

    async def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        words, finish = self._answer(prompt)
        model = prompt.model or self.default_model
        for word in words:
            yield Chunk(delta=word, model=model)
        yield Chunk(finish_reason=finish, usage=self._usage(prompt, "".join(words)), model=model)

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo(self.default_model, ECHO_PROVIDER, ECHO_DESCRIPTION)]
