"""What an LLM provider is to the speech unit, and the values that cross that boundary.

A provider turns a :class:`Prompt` into a :class:`Completion` (or a stream of
:class:`Chunk`\\ s) and lists its models. Failures leave a provider as
``DomainError``\\ s already shaped for the caller (RESOURCE_EXHAUSTED,
UNAVAILABLE, DEADLINE_EXCEEDED...), so the servicer never guesses what an
HTTP status meant.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from services.common.errors import DomainError, InvalidArgument


class DeadlineExceeded(DomainError):
    """The provider did not answer within the call's time budget."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Prompt:
    """One generation as a provider sees it: the model is already resolved, the key never printed."""

    prompt: str
    model: str
    system: str = ""
    temperature: float | None = None
    max_tokens: int = 0
    # Extra body fields (top_p, stop...), already checked not to touch model/messages/stream.
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # The caller's provider key for this one call; excluded from repr so no log line can carry it.
    api_key: str = field(default="", repr=False)
    # Seconds the provider may spend, retries included.
    timeout: float = 60.0
    # Earlier messages of the conversation, oldest first, as (role, content): user or assistant.
    history: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished answer: what the cache stores and Generate returns."""

    text: str
    model: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed answer; the provider's last chunk carries finish_reason and usage."""

    delta: str = ""
    finish_reason: str = ""
    usage: Usage | None = None
    model: str = ""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    model_id: str
    provider: str
    description: str = ""


class LlmProvider(Protocol):
    """A source of completions: the built-in echo, or an OpenAI-compatible HTTP server."""

    @property
    def name(self) -> str:
        """What requests put in `provider` to choose this one."""
        ...

    @property
    def default_model(self) -> str:
        """The model used when a request names none."""
        ...

    async def generate(self, prompt: Prompt) -> Completion:
        """The whole answer at once."""
        ...

    def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        """The answer as it is produced; the last chunk has a finish_reason."""
        ...

    async def models(self) -> list[ModelInfo]:
        """The models this provider offers now (its default model when it cannot tell)."""
        ...


class Providers:
    """The providers this unit serves, by name, and which one answers when a request names none."""

    def __init__(self, providers: list[LlmProvider], default: str) -> None:
        self._by_name = {p.name: p for p in providers}
        if default not in self._by_name:
            raise ValueError(f"default provider {default!r} is not among {sorted(self._by_name)}")
        self.default = default

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def all(self) -> list[LlmProvider]:
        return [self._by_name[name] for name in self.names]

    def get(self, name: str, field_name: str = "provider") -> LlmProvider:
        """The provider a request names ('' is the platform default); unknown names are INVALID_ARGUMENT."""
        provider = self._by_name.get(name.strip().lower() or self.default)
        if provider is None:
            raise InvalidArgument.field(field_name, f"unknown provider {name[:50]!r}; one of {', '.join(self.names)}")
        return provider
