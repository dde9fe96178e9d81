"""Integrations as stored: checking what a user sends, sealing the secrets, and the messages returned.

Kinds: `webhook` (any http(s) endpoint, signed), `slack` and `teams` (their
incoming-webhook URLs, https; a Slack or Teams message), `email` (refused:
e-mail delivery is not configured on this platform). The URL, the signing
secret and the settings are sealed with AES-GCM (a key derived from
AGENTMESH_ENCRYPTION_KEY for this purpose), each bound to its integration and
field; responses show the URL masked, `has_secret` instead of the secret, and
header values masked. A webhook always has a secret: one is generated when
none is given, and that generated secret is the only one ever returned, once,
in CreateIntegration's answer (as API keys are).

Settings (`config`): `headers` (webhook: extra request headers, at most 20;
not Host, Content-*, Transfer-Encoding, Connection, User-Agent or
X-AgentMesh-*) and `template` (slack, teams: the message text, with
placeholders {{type}}, {{id}}, {{subject_id}}, {{tenant_id}}, {{time}},
{{source}} and {{data.<key>}}). Any other key is refused, naming it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import admin_pb2

from services.admin.targets import MASK, shown_url, url_problem
from services.common.crypto import SecretBox, key_from_settings
from services.common.errors import FieldViolation
from services.common.errors import raise_if as raise_if  # the unit's modules take it from here
from services.common.events.envelope import EventFilter
from services.common.protoutil import struct, timestamp
from services.common.settings import Settings
from services.common.storage import Row

KINDS = ("webhook", "slack", "teams", "email")
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "retrying")
MAX_NAME = 100
MAX_EVENTS = 50
MAX_GLOB = 100
MAX_SECRET = 256
MIN_SECRET = 16
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1024
MAX_TEMPLATE = 2000
_GLOB = re.compile(r"[a-z0-9_.*?\[\]!-]+")
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_RESERVED_HEADERS = ("host", "content-length", "content-type", "content-encoding", "transfer-encoding",
                     "connection", "user-agent", "te", "upgrade", "keep-alive", "proxy-authorization")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_FIELDS = ("type", "id", "subject_id", "tenant_id", "time", "source")
_SEAL_LABEL = b"agentmesh admin unit: integration secrets v1"


def box_from_settings(settings: Settings) -> SecretBox:
    """A SecretBox whose key serves integrations only (derived from the platform's encryption key)."""
    return SecretBox(hmac.new(key_from_settings(settings), _SEAL_LABEL, hashlib.sha256).digest())


def new_secret() -> str:
    return "whsec_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Draft:
    """An integration's fields as a user sets them, before sealing."""

    kind: str
    name: str
    url: str
    events: tuple[str, ...]
    secret: str
    config: Mapping[str, Any]
    enabled: bool


def problems(draft: Draft, *, allow_private: bool, known_prefixes: Sequence[str]) -> list[FieldViolation]:
    """Everything wrong with the draft, field by field."""
    found: list[FieldViolation] = []
    if draft.kind not in KINDS:
        found.append(FieldViolation("kind", f"one of {', '.join(KINDS)}"))
    if not draft.name or len(draft.name) > MAX_NAME:
        found.append(FieldViolation("name", f"1 to {MAX_NAME} characters"))
    if draft.kind in ("webhook", "slack", "teams"):
        problem = url_problem(draft.url, draft.kind, allow_private) if draft.url else "is required for this kind"
        if problem:
            found.append(FieldViolation("url", problem))
    if len(draft.events) > MAX_EVENTS:
        found.append(FieldViolation("events", f"at most {MAX_EVENTS} patterns"))
    for index, glob in enumerate(draft.events):
        if not glob or len(glob) > MAX_GLOB or not _GLOB.fullmatch(glob):
            found.append(FieldViolation(f"events[{index}]", "an event type or glob such as task.* or "
                                                            "workflow.run.failed"))
        elif not _could_match(glob, known_prefixes):
            found.append(FieldViolation(f"events[{index}]", f"{glob!r} matches no event the platform publishes"))
    if draft.secret and not MIN_SECRET <= len(draft.secret) <= MAX_SECRET:
        found.append(FieldViolation("secret", f"{MIN_SECRET} to {MAX_SECRET} characters"))
    found += _config_problems(draft.kind, draft.config)
    return found


def _could_match(glob: str, prefixes: Sequence[str]) -> bool:
    head = re.split(r"[*?\[]", glob, maxsplit=1)[0]
    return any(head.startswith(p) or p.startswith(head) for p in prefixes)


def _config_problems(kind: str, config: Mapping[str, Any]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    allowed = {"webhook": ("headers",), "slack": ("template",), "teams": ("template",)}.get(kind, ())
    for key, value in config.items():
        if key not in allowed:
            found.append(FieldViolation(f"config.{key}", f"not a setting of a {kind} integration"
                                                          f"{'; settings: ' + ', '.join(allowed) if allowed else ''}"))
        elif key == "headers":
            found += _header_problems(value)
        elif key == "template":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEMPLATE:
                found.append(FieldViolation("config.template", f"a text of 1 to {MAX_TEMPLATE} characters"))
            else:
                for name in PLACEHOLDER.findall(value):
                    if name not in _FIELDS and not name.startswith("data."):
                        found.append(FieldViolation(
                            "config.template", f"unknown placeholder {{{{{name}}}}}; use {', '.join(_FIELDS)} "
                                               "or data.<key>"))
    return found


def _header_problems(value: Any) -> list[FieldViolation]:
    if not isinstance(value, Mapping) or len(value) > MAX_HEADERS:
        return [FieldViolation("config.headers", f"an object of at most {MAX_HEADERS} header names and values")]
    found = []
    for name, text in value.items():
        lowered = str(name).lower()
        if not _HEADER.fullmatch(str(name)) or lowered in _RESERVED_HEADERS or lowered.startswith("x-agentmesh-"):
            found.append(FieldViolation(f"config.headers.{name}", "a header name the platform does not set itself"))
        elif not isinstance(text, str) or len(text) > MAX_HEADER_VALUE or any(c in text for c in "\r\n\0"):
            found.append(FieldViolation(f"config.headers.{name}", f"a one-line text of at most {MAX_HEADER_VALUE} "
                                                                   "characters"))
    return found


def shown_config(config: Mapping[str, Any]) -> dict[str, Any]:
    shown = dict(config)
    if isinstance(shown.get("headers"), Mapping):
        shown["headers"] = {name: MASK for name in shown["headers"]}
    return shown


def sealed_columns(box: SecretBox, integration_id: str, draft: Draft) -> dict[str, Any]:
    """The columns of a draft, its secrets sealed and bound to the integration."""
    return {
        "kind": draft.kind,
        "name": draft.name,
        "name_key": draft.name.lower(),
        "url_sealed": box.seal(draft.url, f"{integration_id}:url") if draft.url else "",
        "url_shown": shown_url(draft.url, draft.kind) if draft.url else "",
        "events": json.dumps(list(draft.events)),
        "secret_sealed": box.seal(draft.secret, f"{integration_id}:secret") if draft.secret else "",
        "config_sealed": box.seal(json.dumps(dict(draft.config)), f"{integration_id}:config"),
        "config_shown": json.dumps(shown_config(draft.config)),
        "enabled": int(draft.enabled),
    }


def opened(box: SecretBox, row: Row) -> Draft:
    """The draft a stored row was made from, its secrets opened."""
    integration_id = row["integration_id"]
    return Draft(
        kind=row["kind"], name=row["name"],
        url=box.open(row["url_sealed"], f"{integration_id}:url") if row["url_sealed"] else "",
        events=tuple(json.loads(row["events"])),
        secret=box.open(row["secret_sealed"], f"{integration_id}:secret") if row["secret_sealed"] else "",
        config=json.loads(box.open(row["config_sealed"], f"{integration_id}:config")) if row["config_sealed"] else {},
        enabled=bool(row["enabled"]),
    )


def status_of(row: Row) -> str:
    if not row["enabled"]:
        return "disabled"
    return "failing" if row["failure_count"] else "active"


def integration_message(row: Row) -> admin_pb2.Integration:
    return admin_pb2.Integration(
        integration_id=row["integration_id"], tenant_id=row["tenant_id"], kind=row["kind"], name=row["name"],
        url=row["url_shown"], events=json.loads(row["events"]), has_secret=bool(row["secret_sealed"]),
        config=struct(row["config_shown"]), enabled=bool(row["enabled"]), status=status_of(row),
        failure_count=int(row["failure_count"]), last_delivery_at=timestamp(row["last_delivery_at"]),
        created_by=row["created_by"], created_at=timestamp(row["created_at"]), updated_at=timestamp(row["updated_at"]),
    )


def delivery_message(row: Row) -> admin_pb2.Delivery:
    return admin_pb2.Delivery(
        delivery_id=row["delivery_id"], integration_id=row["integration_id"], event_id=row["event_id"],
        event_type=row["event_type"], status=row["status"], attempts=int(row["attempts"]),
        response_status_code=int(row["response_status_code"]), response_body=row["response_body"],
        error=row["error"], latency_ms=float(row["latency_ms"]), test=bool(row["test"]),
        created_at=timestamp(row["created_at"]), delivered_at=timestamp(row["delivered_at"]),
        next_retry_at=timestamp(row["next_retry_at"]) if row["status"] == "retrying" else None,
    )


@dataclass(frozen=True, slots=True)
class Route:
    """An enabled integration as the dispatcher matches events: what its creator could watch, and its globs."""

    integration_id: str
    tenant_id: str
    filter: EventFilter

    @classmethod
    def of(cls, row: Row) -> Route:
        return cls(row["integration_id"], row["tenant_id"],
                   EventFilter.build(json.loads(row["events"]), tenant_id=row["tenant_id"], user_id=row["created_by"]))
