"""Delivering events through integrations: matching, the request each kind sends, signing, retries.

Matching (:class:`Dispatcher`): the admin unit follows its own hub; an event
goes to every enabled integration whose `events` globs match its type (none:
every type) and that its creator could watch on the event socket: their
tenant's events and platform-wide ones, and events addressed to one user only
when that user created the integration. Each match is a delivery row, stored
with the event (services.admin.recorder writes it with the rest of the batch).

Sending (:class:`WebhookSender`): a worker sends due deliveries, at most
`concurrency` at once, over one HTTP client whose resolver refuses addresses
integrations may not reach (services.admin.targets); redirects are not
followed. Every attempt is recorded on the delivery (status code, the start of
the answer, the error, the time it took) and on the integration (when it was
last tried; consecutive final failures). 2xx succeeds. 408, 429, 5xx, a
timeout or a failed connection are tried again after the pauses of
`integrations.retry_delays_seconds` (a longer Retry-After is honoured, up to
an hour); anything else fails at once. Deliveries are stored before they are
sent, so a restart resumes them: at least once, and the receiver recognises a
repeat by X-AgentMesh-Delivery. A disabled integration's pending deliveries
fail ("integration disabled"); TestIntegration's are sent anyway.

Replicas of the admin unit share the deliveries: an event makes one delivery
row per integration however many replicas record it (a unique key), and an
attempt starts by claiming its delivery for the attempt's timeout and a margin
(a conditional update), so one replica sends it; a replica that dies
mid-attempt leaves a claim that lapses, and the delivery is tried again.

What is sent:
- webhook: the event as JSON ({"id", "type", "time", "tenant_id", "subject_id",
  "user_id", "source", "data", "delivery_id", "integration_id", "test"});
- slack: {"text": ...}; teams: a MessageCard; the text from the
  integration's `template`, or the event's type, subject and main fields.
Headers: Content-Type, User-Agent "AgentMesh-Webhooks/<version>",
X-AgentMesh-Event, X-AgentMesh-Delivery, X-AgentMesh-Timestamp (Unix
seconds), and, when the integration has a secret, X-AgentMesh-Signature:
"v1=" + hex HMAC-SHA256(secret, "<timestamp>." + body). A receiver recomputes
it over the raw body, compares in constant time and refuses timestamps more
than a few minutes old (replays). Each attempt is signed afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from agentmesh.v1 import common_pb2
from google.protobuf import json_format

from services.admin.config_store import ConfigDocuments
from services.admin.integration_model import PLACEHOLDER, Route, opened
from services.admin.targets import BlockedAddress, GuardedResolver, literal_problem
from services.common.crypto import SecretBox, SecretUnreadable
from services.common.protoutil import new_id
from services.common.storage import Database, Row, Statement

log = logging.getLogger("agentmesh.admin.webhooks")

USER_AGENT = "AgentMesh-Webhooks/0.1.0"
MAX_RESPONSE = 1024
MAX_RETRY_AFTER = 3600.0
IDLE_WAIT = 30.0
_SKIPPED = ("bus.", "audit.", "log.")
CLAIM_MARGIN = 30.0  # seconds an attempt's claim outlasts its timeout
_INSERT = ("INSERT OR IGNORE INTO deliveries (delivery_id, integration_id, tenant_id, event_id, event_type, event,"
           " status, test, created_at, next_retry_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-AgentMesh-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def event_record(event: common_pb2.Event) -> dict[str, Any]:
    return dict(json_format.MessageToDict(event, preserving_proto_field_name=True))


def _placeholder(record: Mapping[str, Any], name: str) -> str:
    value: Any = record
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def text_of(record: Mapping[str, Any], template: str = "") -> str:
    """The message text of a Slack or Teams delivery."""
    if template:
        return PLACEHOLDER.sub(lambda m: _placeholder(record, m.group(1)), template)
    text = f"AgentMesh: {record.get('type', '')}"
    if record.get("subject_id"):
        text += f" ({record['subject_id']})"
    data = record.get("data") or {}
    details = [f"{key}: {data[key]}" for key in ("status", "message", "title", "error") if data.get(key)]
    return text + (" — " + "; ".join(str(d) for d in details) if details else "")


def body_of(kind: str, record: Mapping[str, Any], config: Mapping[str, Any], *, delivery_id: str,
            integration_id: str, test: bool) -> bytes:
    """The request body an integration of this kind sends for the event."""
    if kind == "slack":
        payload: dict[str, Any] = {"text": text_of(record, str(config.get("template", "")))}
    elif kind == "teams":
        payload = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                   "summary": str(record.get("type", "")), "title": f"AgentMesh: {record.get('type', '')}",
                   "text": text_of(record, str(config.get("template", "")))}
    else:
        payload = {key: record.get(key, "") for key in ("id", "type", "time", "tenant_id", "subject_id",
                                                        "user_id", "source")}
        payload |= {"data": record.get("data") or {}, "delivery_id": delivery_id, "integration_id": integration_id,
                    "test": test}
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


class Dispatcher:
    """Which enabled integrations an event goes to; the routes are read again after any change."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._routes: list[Route] | None = None

    def invalidate(self) -> None:
        self._routes = None

    async def _current(self) -> list[Route]:
        if self._routes is None:
            rows = await self.db.fetch_all("SELECT integration_id, tenant_id, events, created_by FROM integrations"
                                           " WHERE enabled = 1")
            self._routes = [Route.of(row) for row in rows]
        return self._routes

    async def statements(self, event: common_pb2.Event) -> list[Statement]:
        """The delivery rows the event makes (none for the hub's own and the admin unit's internal events)."""
        if not event.id or event.type.startswith(_SKIPPED):
            return []
        routes = await self._current()
        if not routes:
            return []
        matched = [r for r in routes if (not event.tenant_id or r.tenant_id == event.tenant_id)
                   and r.filter.accepts(event)]
        if not matched:
            return []
        record, now = json.dumps(event_record(event)), time.time()
        return [Statement(_INSERT, (new_id("dlv"), r.integration_id, r.tenant_id, event.id, event.type, record, 0,
                                    now, now)) for r in matched]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # succeeded, retrying, failed
    code: int = 0
    body: str = ""
    error: str = ""
    latency_ms: float = 0.0
    retry_after: float = 0.0


def _error_text(exc: BaseException) -> str:
    """What went wrong, without the URL (which may carry a secret)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not resolved"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    return type(exc).__name__


def blocked_cause(exc: BaseException | None) -> BlockedAddress | None:
    """The refusal of the guarded resolver behind a failed request, if that is what failed it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BlockedAddress):
            return exc
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "os_error", None)
        seen += 1
    return None


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    if value.strip().isdigit():
        return min(float(value.strip()), MAX_RETRY_AFTER)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
    return 0.0


class WebhookSender:
    """Sends due deliveries in the background; TestIntegration sends one at once."""

    def __init__(self, db: Database, box: SecretBox, configs: ConfigDocuments, *, concurrency: int = 8) -> None:
        self.db = db
        self.box = box
        self.configs = configs
        self.resolver = GuardedResolver()
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=self.resolver, use_dns_cache=False, limit=self._concurrency * 2)
        self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT},
                                              auto_decompress=False)
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="webhook-sender")

    @property
    def session(self) -> aiohttp.ClientSession:
        """The guarded HTTP client (bot commands' webhooks go through it too); open once start() ran."""
        assert self._session is not None, "the webhook sender is started before the unit serves"
        return self._session

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        tasks = [t for t in (self._worker, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def deliver_now(self, integration_id: str, tenant_id: str, record: Mapping[str, Any]) -> Row:
        """Store a test delivery of the event, make its first attempt at once, and return the delivery."""
        delivery_id, now = new_id("dlv"), time.time()
        task = asyncio.get_running_loop().create_task(self._store_and_send(
            delivery_id, (delivery_id, integration_id, tenant_id, str(record.get("id", "")),
                          str(record.get("type", "")), json.dumps(record), 1, now, now)))
        self._inflight[delivery_id] = task
        await asyncio.shield(task)  # a caller that goes away does not cut the attempt short
        row = await self.db.fetch_one("SELECT * FROM deliveries WHERE delivery_id = ?", (delivery_id,))
        assert row is not None
        return row

    async def _store_and_send(self, delivery_id: str, values: tuple[Any, ...]) -> None:
        try:
            await self.db.execute(_INSERT, values)
            await self._attempt(delivery_id)
        finally:
            self._inflight.pop(delivery_id, None)

    async def _run(self) -> None:
        while True:
            try:
                wait = await self._dispatch_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook deliveries could not be read; trying again")
                wait = 5.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def _dispatch_due(self) -> float:
        """Start the due deliveries (as many as there are free slots); how long until the next is due."""
        now = time.time()
        free = self._concurrency - len(self._inflight)
        if free > 0:
            rows = await self.db.fetch_all(
                "SELECT delivery_id FROM deliveries WHERE status IN ('pending', 'retrying') AND next_retry_at <= ?"
                " AND claimed_until < ? ORDER BY next_retry_at, seq LIMIT ?", (now, now, free + len(self._inflight)))
            for row in rows:
                delivery_id = row["delivery_id"]
                if delivery_id not in self._inflight and len(self._inflight) < self._concurrency:
                    self._inflight[delivery_id] = asyncio.get_running_loop().create_task(self._send(delivery_id))
        later = await self.db.fetch_one(
            "SELECT MIN(next_retry_at) AS at FROM deliveries WHERE status IN ('pending', 'retrying')"
            " AND next_retry_at > ?", (now,))
        wait = IDLE_WAIT if later is None or later["at"] is None else min(max(later["at"] - now, 0.01), IDLE_WAIT)
        return 0.05 if len(self._inflight) >= self._concurrency else wait

    async def _send(self, delivery_id: str) -> None:
        try:
            await self._attempt(delivery_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery_id)
        finally:
            self._inflight.pop(delivery_id, None)
            self._wake.set()

    async def _attempt(self, delivery_id: str) -> None:
        config = await self.configs.effective("system")
        now = time.time()
        delivery = await self.db.fetch_one(
            "UPDATE deliveries SET claimed_until = ? WHERE delivery_id = ? AND status IN ('pending', 'retrying')"
            " AND claimed_until < ? RETURNING *",
            (now + float(config["integrations.timeout_seconds"]) + CLAIM_MARGIN, delivery_id, now))
        if delivery is None:
            return  # finished, or another replica's attempt holds it
        integration = await self.db.fetch_one("SELECT * FROM integrations WHERE integration_id = ?",
                                              (delivery["integration_id"],))
        if integration is None:
            return  # deleted meanwhile: its deliveries went with it
        attempts = int(delivery["attempts"]) + 1
        if not integration["enabled"] and not delivery["test"]:
            outcome = Outcome("failed", error="integration disabled")
        else:
            try:
                target = opened(self.box, integration)
            except SecretUnreadable:
                outcome = Outcome("failed", error="the integration's URL or secret cannot be read with the current "
                                                  "encryption key; set them again")
            else:
                outcome = await self._post(target.kind, target.url, target.secret, target.config, delivery, config)
        delays = [float(d) for d in config["integrations.retry_delays_seconds"]]
        status, next_at = outcome.status, None
        if status == "retrying":
            if attempts <= len(delays):
                next_at = time.time() + max(delays[attempts - 1], outcome.retry_after)
            else:
                status = "failed"
        await self._record(delivery, integration, outcome, status, attempts, next_at)

    async def _post(self, kind: str, url: str, secret: str, settings: Mapping[str, Any], delivery: Row,
                    config: Mapping[str, Any]) -> Outcome:
        allow_private = bool(config["integrations.allow_private_networks"])
        problem = literal_problem(url, allow_private)
        if problem:
            return Outcome("failed", error=problem)
        self.resolver.allow_private = allow_private
        body = body_of(kind, json.loads(delivery["event"]), settings, delivery_id=delivery["delivery_id"],
                       integration_id=delivery["integration_id"], test=bool(delivery["test"]))
        now = int(time.time())
        headers = {**{str(k): str(v) for k, v in (settings.get("headers") or {}).items()},
                   "Content-Type": "application/json", "X-AgentMesh-Event": delivery["event_type"],
                   "X-AgentMesh-Delivery": delivery["delivery_id"], "X-AgentMesh-Timestamp": str(now)}
        if secret:
            headers["X-AgentMesh-Signature"] = sign(secret, now, body)
        timeout = float(config["integrations.timeout_seconds"])
        assert self._session is not None
        started = time.perf_counter()
        async with self._slots:
            try:
                async with self._session.post(url, data=body, headers=headers, allow_redirects=False,
                                              timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                    text = (await answer.content.read(MAX_RESPONSE)).decode("utf-8", "replace")
                    code, retry_after = answer.status, _retry_after(answer.headers.get("Retry-After"))
            except TimeoutError:
                return Outcome("retrying", error=f"timeout after {timeout:g}s",
                               latency_ms=(time.perf_counter() - started) * 1000)
            except (aiohttp.ClientError, OSError) as exc:
                elapsed = (time.perf_counter() - started) * 1000
                blocked = blocked_cause(exc)
                if blocked is not None:
                    return Outcome("failed", error=str(blocked), latency_ms=elapsed)
                return Outcome("retrying", error=_error_text(exc), latency_ms=elapsed)
        elapsed = (time.perf_counter() - started) * 1000
        if 200 <= code < 300:
            return Outcome("succeeded", code, text, latency_ms=elapsed)
        retry = code in (408, 429) or code >= 500
        return Outcome("retrying" if retry else "failed", code, text, f"HTTP {code}", elapsed,
                       retry_after if retry else 0.0)

    async def _record(self, delivery: Row, integration: Row, outcome: Outcome, status: str, attempts: int,
                      next_at: float | None) -> None:
        now = time.time()
        failures = ("0" if status == "succeeded" else "failure_count + 1" if status == "failed"
                    else "failure_count")
        await self.db.batch([
            Statement("UPDATE deliveries SET status = ?, attempts = ?, response_status_code = ?, response_body = ?,"
                      " error = ?, latency_ms = ?, delivered_at = ?, next_retry_at = ?, claimed_until = 0"
                      " WHERE delivery_id = ?",
                      (status, attempts, outcome.code, outcome.body, outcome.error, round(outcome.latency_ms, 3),
                       now if status == "succeeded" else None, next_at, delivery["delivery_id"])),
            Statement(f"UPDATE integrations SET last_delivery_at = ?, failure_count = {failures}"
                      " WHERE integration_id = ?", (now, integration["integration_id"])),
        ])
        if status == "retrying":
            self._wake.set()  # the worker sleeps until the earliest retry it knows of: this one may be earlier
        if status == "failed":
            log.warning("webhook delivery failed", extra={
                "delivery_id": delivery["delivery_id"], "integration_id": integration["integration_id"],
                "event_type": delivery["event_type"], "attempts": attempts, "error": outcome.error,
                "status_code": outcome.code})
