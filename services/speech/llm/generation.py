"""From a Generate/StreamGenerate request to a checked :class:`Generation`, or a clear INVALID_ARGUMENT.

Everything a request may get wrong is found here, before a provider is called
or a cache consulted: the prompt's length (seed 003: 1 to 100,000
characters), an unknown provider, a temperature out of range, parameters that
would override the model, the messages or streaming. The caller's API key is
checked for shape only, and travels on in the Prompt, never in the cache key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import struct_pb2

from services.common.authctx import Caller
from services.common.errors import FieldViolation, InvalidArgument
from services.speech.llm.cache import cache_key
from services.speech.llm.providers import LlmProvider, Prompt, Providers

MAX_PROMPT_CHARS = 100_000
MAX_SYSTEM_CHARS = 100_000
MAX_MODEL_CHARS = 200
MAX_API_KEY_CHARS = 1_024
MAX_PARAMETERS_BYTES = 16_384
MAX_TOKENS = 1_000_000
# The request's own fields decide these; parameters may not override them.
RESERVED_PARAMETERS = ("model", "messages", "stream")
_MODEL = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
_API_KEY = re.compile(r"^[\x21-\x7e]+$")


class GenerateLike(Protocol):
    """The fields GenerateRequest and StreamGenerateRequest share."""

    prompt: str
    system: str
    model: str
    provider: str
    temperature: float
    max_tokens: int
    conversation_id: str
    api_key: str
    parameters: struct_pb2.Struct

    def HasField(self, field_name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Generation:
    """A checked request: which provider, what to send it, and under which cache key."""

    provider: LlmProvider
    prompt: Prompt
    cache_key: str


def prepare(request: GenerateLike, caller: Caller, providers: Providers, timeout: float,
            history: Sequence[tuple[str, str]] = ()) -> Generation:
    """Check every field, resolve provider and model, compute the cache key.

    `history` is the conversation's earlier messages (role, content), oldest
    first, when the request continues one; they are part of the cache key.
    """
    violations: list[FieldViolation] = []
    prompt = request.prompt
    if not prompt.strip():
        violations.append(FieldViolation("prompt", "must not be empty (1 to 100000 characters)"))
    elif len(prompt) > MAX_PROMPT_CHARS:
        violations.append(FieldViolation("prompt", f"at most {MAX_PROMPT_CHARS} characters; got {len(prompt)}"))
    if len(request.system) > MAX_SYSTEM_CHARS:
        violations.append(FieldViolation("system", f"at most {MAX_SYSTEM_CHARS} characters"))
    model = request.model.strip()
    if model and (len(model) > MAX_MODEL_CHARS or not _MODEL.match(model)):
        violations.append(FieldViolation("model", f"a model name of at most {MAX_MODEL_CHARS} characters, no spaces"))
    temperature: float | None = None
    if request.HasField("temperature"):
        # float32 on the wire: 0.7 arrives as 0.699999988; four decimals give the caller's number back.
        temperature = round(float(request.temperature), 4)
        if not math.isfinite(temperature) or not 0.0 <= temperature <= 2.0:
            violations.append(FieldViolation("temperature", "between 0 and 2"))
    if not 0 <= request.max_tokens <= MAX_TOKENS:
        violations.append(FieldViolation("max_tokens", f"between 0 (the provider's default) and {MAX_TOKENS}"))
    if request.api_key and (len(request.api_key) > MAX_API_KEY_CHARS or not _API_KEY.match(request.api_key)):
        # The description never quotes the key.
        violations.append(FieldViolation("api_key", "printable characters without spaces, at most 1024"))
    parameters = _parameters(request.parameters, violations)
    if violations:
        raise _invalid(violations)
    provider = providers.get(request.provider)
    model = model or provider.default_model
    decisive = dict(parameters)
    if temperature is not None:
        decisive["temperature"] = temperature
    if request.max_tokens:
        decisive["max_tokens"] = request.max_tokens
    key = cache_key(
        tenant=caller.tenant_id or f"user:{caller.user_id}", provider=provider.name, model=model,
        system=request.system, prompt=prompt, parameters=decisive, history=history,
    )
    return Generation(
        provider,
        Prompt(prompt=prompt, model=model, system=request.system, temperature=temperature,
               max_tokens=request.max_tokens, parameters=parameters, api_key=request.api_key, timeout=timeout,
               history=tuple(history)),
        key,
    )


def _parameters(struct: struct_pb2.Struct, violations: list[FieldViolation]) -> dict[str, Any]:
    """The Struct as JSON values, whole numbers as ints (providers refuse 256.0 for max_tokens)."""
    values = {key: _plain(struct.fields[key]) for key in struct.fields}
    for name in RESERVED_PARAMETERS:
        if name in values:
            violations.append(FieldViolation(f"parameters.{name}", f"set by the request itself; remove {name}"))
    try:
        size = len(json.dumps(values, allow_nan=False))
    except ValueError:
        violations.append(FieldViolation("parameters", "numbers must be finite"))
        return values
    if size > MAX_PARAMETERS_BYTES:
        violations.append(FieldViolation("parameters", f"at most {MAX_PARAMETERS_BYTES} bytes of JSON"))
    return values


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {key: _plain(value.struct_value.fields[key]) for key in value.struct_value.fields}
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _invalid(violations: list[FieldViolation]) -> InvalidArgument:
    message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidArgument(message, violations)

