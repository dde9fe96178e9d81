"""The keys of the configuration documents that the platform reads, their types, ranges and defaults.

System keys are grouped by dotted namespace (integrations.*, logs.*, audit.*,
monitoring.*); a namespace is closed: a key in it that is not listed here is a
mistake worth refusing (a typo would otherwise do nothing). Keys outside these
namespaces are the operators' own: kept as sent, within size limits. The bot
document's keys are seed 003's (max_file_size, supported_languages) and what a
chat bot's operators set with them; other keys are kept too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import FieldViolation

KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
MAX_KEY = 100
MAX_KEYS = 200
MAX_DOCUMENT_BYTES = 64 * 1024
_LANGUAGE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One known key: its type (bool, int, number, text, texts, numbers), bounds and default."""

    name: str
    kind: str
    default: Any
    low: float = 0
    high: float = 0
    max_items: int = 0
    pattern: re.Pattern[str] | None = None
    hint: str = ""

    def problem(self, value: Any) -> str:
        """What is wrong with the value, '' when nothing is."""
        if self.kind == "bool":
            return "" if isinstance(value, bool) else "true or false"
        if self.kind in ("int", "number"):
            return _number_problem(value, self.kind == "int", self.low, self.high)
        if self.kind == "text":
            if not isinstance(value, str):
                return "a string"
            if len(value) > self.high:
                return f"at most {int(self.high)} characters"
            if self.pattern is not None and not self.pattern.fullmatch(value):
                return self.hint
            return ""
        if not isinstance(value, list):
            return "a list"
        if len(value) > self.max_items or (self.low and len(value) < self.low and self.kind == "texts"):
            return f"{int(self.low) if self.kind == 'texts' else 0} to {self.max_items} entries"
        for item in value:
            found = (_number_problem(item, False, self.low, self.high) if self.kind == "numbers"
                     else "" if isinstance(item, str) and (self.pattern is None or self.pattern.fullmatch(item))
                     else self.hint)
            if found:
                return f"{item!r}: {found}"
        return ""

    def normal(self, value: Any) -> Any:
        """The value as stored: whole numbers of int keys as ints."""
        if self.kind == "int":
            return int(value)
        return value


def _number_problem(value: Any, whole: bool, low: float, high: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "a whole number" if whole else "a number"
    if whole and not float(value).is_integer():
        return "a whole number"
    if not low <= value <= high:
        return f"between {low:g} and {high:g}"
    return ""


def _specs(*specs: KeySpec) -> Mapping[str, KeySpec]:
    return {spec.name: spec for spec in specs}


SYSTEM_KEYS = _specs(
    # Webhooks may reach loopback, private and link-local addresses (development and tests only).
    KeySpec("integrations.allow_private_networks", "bool", False),
    KeySpec("integrations.timeout_seconds", "number", 10.0, 0.5, 60),
    # Pauses before the second, third, ... attempt of a delivery; its attempts are one more than listed.
    KeySpec("integrations.retry_delays_seconds", "numbers", [10, 60, 300, 1800, 7200], 0.05, 86400, max_items=10),
    KeySpec("integrations.max_per_tenant", "int", 50, 1, 1000),
    KeySpec("logs.retention_days", "int", 14, 1, 365),
    KeySpec("logs.max_lines", "int", 200_000, 1000, 10_000_000),
    KeySpec("audit.retention_days", "int", 365, 30, 3650),
    KeySpec("monitoring.probe_timeout_seconds", "number", 1.0, 0.1, 10),
)

BOT_KEYS = _specs(
    KeySpec("enabled", "bool", True),
    KeySpec("max_file_size", "int", 10 * 1024 * 1024, 1, 100 * 1024 * 1024),
    KeySpec("supported_languages", "texts", ["en", "es", "fr"], 1, max_items=50, pattern=_LANGUAGE,
            hint="an ISO 639-1 language code such as en or pt-BR"),
    KeySpec("default_language", "text", "en", high=5, pattern=_LANGUAGE,
            hint="an ISO 639-1 language code such as en or pt-BR"),
    KeySpec("default_voice", "text", "default", high=64),
    KeySpec("greeting", "text", "", high=1000),
    KeySpec("max_message_length", "int", 4000, 1, 100_000),
    KeySpec("response_timeout_seconds", "number", 60.0, 1, 600),
)

SCOPES: Mapping[str, Mapping[str, KeySpec]] = {"system": SYSTEM_KEYS, "bot": BOT_KEYS}


def defaults(scope: str) -> dict[str, Any]:
    return {name: spec.default for name, spec in SCOPES[scope].items()}


def _namespaces(specs: Mapping[str, KeySpec]) -> set[str]:
    return {name.split(".", 1)[0] for name in specs if "." in name}


def key_problem(scope: str, key: str) -> str:
    """What is wrong with a key's name, '' when nothing is."""
    if len(key) > MAX_KEY or not KEY.fullmatch(key):
        return f"a lower-case dotted name of at most {MAX_KEY} characters, such as logs.retention_days"
    specs = SCOPES[scope]
    namespace = key.split(".", 1)[0]
    if key not in specs and "." in key and namespace in _namespaces(specs):
        known = ", ".join(sorted(k for k in specs if k.startswith(namespace + ".")))
        return f"unknown key in {namespace}.*; known: {known}"
    return ""


def value_problems(scope: str, values: Mapping[str, Any]) -> list[FieldViolation]:
    """Problems of the values set (None = removed), each as a violation of `config.<key>`."""
    found: list[FieldViolation] = []
    specs = SCOPES[scope]
    for key, value in values.items():
        problem = key_problem(scope, key)
        if not problem and value is not None and key in specs:
            problem = specs[key].problem(value)
        if problem:
            found.append(FieldViolation(f"config.{key}", problem))
    return found


def document_problems(scope: str, effective: Mapping[str, Any]) -> list[FieldViolation]:
    """Problems of the document as a whole: keys that must agree with each other."""
    if scope == "bot":
        languages = effective.get("supported_languages") or []
        language = effective.get("default_language")
        if language and language not in languages:
            return [FieldViolation("config.default_language",
                                   f"must be one of supported_languages ({', '.join(languages)})")]
    return []


def normalized(scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
    specs = SCOPES[scope]
    return {key: specs[key].normal(value) if key in specs and value is not None else value
            for key, value in values.items()}
