"""What every unit tells the admin unit about itself: its audited calls and its warning-and-worse log lines.

Audit: the caller-context interceptor (services.common.interceptors) hands
every call of a method whose policy says `audit: true` to the unit's Trail
once the call has its outcome: who (user or service, role, tenant, address,
user agent, request id), what (the method, the resource it names, the request
with its secrets redacted), when, and how it ended (succeeded, denied, failed,
with the gRPC code). Other methods pay one lookup in the policy table. A
servicer may name the resource itself with :func:`note`; otherwise it is read
from the method's name (AdminCreateUser: "user") and the `<resource>_id` field
of the request or the response.

Logs: :func:`forward_logs` puts a handler on the process's root logger that
hands over lines at WARNING and above, at most `rate` a second (what is held
back is counted, and said in the next line that goes).

Both travel as events on the platform's bus, `audit.recorded` and
`log.<level>`, addressed to the admin unit (no tenant, user_id
"service:admin") so that no tenant's user ever receives them, only the admin
unit and platform-wide watchers (admins, units). They go through a publisher
(services.common.events.publisher): in the background, in order, waiting while
the hub is away, so neither a business call nor a log line ever waits for the
bus or fails with it. The admin unit stores them (services/admin/recorder.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from agentmesh.v1.common_pb2 import Event
from google.protobuf import json_format
from google.protobuf.message import Message

from services.common import authctx
from services.common.authctx import Caller
from services.common.protoutil import new_id

log = logging.getLogger("agentmesh.trail")

ADMIN_PRINCIPAL = "service:admin"
AUDIT_EVENT = "audit.recorded"
LOG_EVENT_PREFIX = "log."
REDACTED = "[redacted]"
MAX_REQUEST_BYTES = 16 * 1024
MAX_STRING = 500
MAX_MESSAGE = 2000
MAX_EXCEPTION = 4000
MAX_FIELDS = 20
_SECRET_ENDINGS = ("password", "secret", "token", "api_key", "apikey", "private_key", "credential",
                   "credentials", "authorization", "signature")
_DENIED = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})
# Words a method name starts with, before the resource it acts on (AdminCreateUser: user).
_VERBS = ("Create", "Update", "Delete", "Set", "Cancel", "Clone", "Retry", "Add", "Remove", "Transfer", "Revoke",
          "Start", "Stop", "Execute", "Test", "Rotate", "Switch", "Reset", "Restore", "Change", "Mark", "Send",
          "Track", "Record", "Publish", "Get", "List")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {"message", "asctime"}
# The loggers of the path the lines travel on: forwarding their lines could feed itself.
_NOT_FORWARDED = ("agentmesh.events", "agentmesh.trail", "agentmesh.admin.recorder")

_notes: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("agentmesh_audit_notes", default=None)


class Sink(Protocol):
    """Where a trail's events go: a publisher of the unit (services.common.events.publisher)."""

    def emit(self, event: Event) -> None: ...

    async def aclose(self) -> None: ...


def note(*, resource_type: str = "", resource_id: str = "") -> None:
    """Name the resource the current audited call changes (no effect outside an audited call)."""
    notes = _notes.get()
    if notes is not None:
        if resource_type:
            notes["resource_type"] = resource_type
        if resource_id:
            notes["resource_id"] = resource_id


def open_notes() -> tuple[dict[str, str], contextvars.Token[dict[str, str] | None]]:
    """For the interceptor: the notes of the call about to run, and the token that closes them."""
    notes: dict[str, str] = {}
    return notes, _notes.set(notes)


def close_notes(token: contextvars.Token[dict[str, str] | None]) -> None:
    with contextlib.suppress(ValueError):  # a stream finalized from another context
        _notes.reset(token)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def resource_type_of(method_name: str) -> str:
    """The kind of resource a method acts on, from its name: AdminDeleteUser -> user, Broadcast -> broadcast."""
    name = method_name.removeprefix("Admin") or method_name
    for verb in _VERBS:
        if name.startswith(verb) and len(name) > len(verb) and name[len(verb)].isupper():
            name = name[len(verb):]
            break
    return _snake(name)


def _string_field(message: Message | None, name: str) -> str:
    if message is None:
        return ""
    field = message.DESCRIPTOR.fields_by_name.get(name)
    if field is None or field.type != field.TYPE_STRING or field.is_repeated:
        return ""
    return str(getattr(message, name))


def resource_id_of(resource_type: str, request: Message | None, response: Message | None) -> str:
    """The id of the resource: `<type>_id` (or `<last word>_id`) in the request, the response, or a message
    the response carries (CreateBotCommandResponse.command.command_id); else the response's first `*_id`."""
    names = list(dict.fromkeys((f"{resource_type}_id", f"{resource_type.rsplit('_', 1)[-1]}_id")))
    for name in names:
        found = _string_field(request, name) or _string_field(response, name)
        if found:
            return found
    if response is None:
        return ""
    for field in response.DESCRIPTOR.fields:
        if field.type == field.TYPE_MESSAGE and not field.is_repeated and response.HasField(field.name):
            nested = getattr(response, field.name)
            for name in names:
                found = _string_field(nested, name)
                if found:
                    return found
    for field in response.DESCRIPTOR.fields:
        if field.name.endswith("_id"):
            found = _string_field(response, field.name)
            if found:
                return found
    return ""


def _secret(key: str) -> bool:
    key = key.lower()
    return key == "key" or key.endswith(_SECRET_ENDINGS)


def redacted(value: Any) -> Any:
    """A JSON value with every secret-looking key's value replaced and long strings cut."""
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret(str(k)) and v not in ("", None) else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value[:100]]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


def request_record(request: Message | None) -> dict[str, Any]:
    """The request as JSON (proto field names), secrets redacted, at most MAX_REQUEST_BYTES."""
    if request is None:
        return {}
    data = redacted(json_format.MessageToDict(request, preserving_proto_field_name=True))
    assert isinstance(data, dict)
    size = len(json.dumps(data, default=str))
    if size > MAX_REQUEST_BYTES:
        return {"_omitted": f"a request of {size} bytes", "_fields": sorted(data)[:50]}
    return data


def outcome_of(code: str) -> str:
    if code == "OK":
        return "succeeded"
    return "denied" if code in _DENIED else "failed"


class Trail:
    """One unit's audit records and forwarded log lines, as events through its sink."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._sink: Sink | None = None
        self.unsent = 0  # events made while no sink was attached

    @property
    def attached(self) -> bool:
        return self._sink is not None

    def attach(self, sink: Sink) -> None:
        self._sink = sink

    def publish(self, event: Event) -> None:
        if self._sink is None:
            self.unsent += 1
            return
        self._sink.emit(event)

    async def aclose(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            await sink.aclose()

    def audit(
        self,
        *,
        method: str,
        caller: Caller | None,
        request: Message | None,
        response: Message | None,
        code: str,
        started: float,
        user_agent: str = "",
        notes: Mapping[str, str] | None = None,
    ) -> None:
        """Record one call of an audited method with its outcome (never failing the call itself)."""
        try:
            self._audit(method, caller, request, response, code, started, user_agent, notes or {})
        except Exception:
            log.exception("no audit record could be made of a call of %s", method)

    def _audit(self, method: str, caller: Caller | None, request: Message | None, response: Message | None,
               code: str, started: float, user_agent: str, notes: Mapping[str, str]) -> None:
        name = method.rsplit("/", 1)[-1]
        kind = notes.get("resource_type") or resource_type_of(name)
        resource_id = notes.get("resource_id") or resource_id_of(kind, request, response)
        entry_id = new_id("aud")
        who = caller or Caller()
        data: dict[str, Any] = {
            "audit_entry_id": entry_id,
            "actor_id": who.user_id,
            "actor_role": who.role,
            "tenant_id": who.tenant_id,
            "method": method.lstrip("/"),
            "resource_type": kind,
            "resource_id": resource_id,
            "outcome": outcome_of(code),
            "status_code": code,
            "request": request_record(request),
            "ip_address": who.address,
            "user_agent": user_agent[:MAX_STRING],
            "request_id": who.request_id,
            "via_service": who.via_service,
            "unit": self.unit,
            "latency_ms": round((time.time() - started) * 1000, 3),
        }
        event = Event(type=AUDIT_EVENT, user_id=ADMIN_PRINCIPAL, subject_id=entry_id, source=self.unit)
        event.time.FromNanoseconds(int(started * 1e9))
        event.data.update(data)
        self.publish(event)

    def log(self, record: logging.LogRecord, request_id: str = "") -> None:
        """Forward one log line."""
        level = {"warn": "warning", "fatal": "critical"}.get(record.levelname.lower(), record.levelname.lower())
        fields: dict[str, Any] = {}
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_") or len(fields) >= MAX_FIELDS:
                continue
            fields[key] = value if isinstance(value, bool | int | float) or value is None else str(value)[:MAX_STRING]
        data: dict[str, Any] = {
            "unit": self.unit,
            "logger": record.name,
            "message": record.getMessage()[:MAX_MESSAGE],
            "request_id": request_id,
            "fields": redacted(fields),
        }
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = "".join(traceback.format_exception(*record.exc_info))[-MAX_EXCEPTION:]
        event = Event(type=f"{LOG_EVENT_PREFIX}{level}", user_id=ADMIN_PRINCIPAL, subject_id=self.unit,
                      source=self.unit)
        event.time.FromNanoseconds(int(record.created * 1e9))
        event.data.update(data)
        self.publish(event)


class LogForwarder(logging.Handler):
    """Hands the process's lines at `level` and above to the trail, at most `rate` a second (bursts of `burst`)."""

    def __init__(self, trail: Trail, loop: asyncio.AbstractEventLoop, *, level: int = logging.WARNING,
                 rate: float = 20.0, burst: float = 100.0) -> None:
        super().__init__(level)
        self.trail = trail
        self._loop = loop
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._refilled = time.monotonic()
        self.held_back = 0  # lines not forwarded since the last one that was

    def _allowed(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_FORWARDED):
            return
        try:
            if not self._allowed():
                self.held_back += 1
                return
            if self.held_back:
                record.held_back = self.held_back  # said with this line: what the rate limit kept
                self.held_back = 0
            request_id = authctx.current().request_id  # the current call's, as the JSON log line has it
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                self.trail.log(record, request_id)
            elif not self._loop.is_closed():  # a line from another thread (storage, metrics server)
                self._loop.call_soon_threadsafe(self.trail.log, record, request_id)
        except Exception:  # a log line is never worth failing the code that wrote it
            self.handleError(record)


@contextlib.contextmanager
def forward_logs(trail: Trail, **options: Any) -> Iterator[LogForwarder]:
    """Forward the process's warning-and-worse lines to the admin unit while the block runs (one unit per
    process: `python -m services.<unit>`)."""
    handler = LogForwarder(trail, asyncio.get_running_loop(), **options)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
