"""An agent's lifecycle: created -> starting -> running -> stopping -> stopped, and error.

Every transition is one conditional UPDATE from the exact status that was read,
so of two concurrent starts only one moves the agent (and announces it); the
other sees the new status and answers with it, which makes StartAgent and
StopAgent idempotent: starting a starting or running agent returns it as it is,
stopping a stopping or stopped one too. Starting an agent that is stopping is
FAILED_PRECONDITION (wait until it has stopped).

Starting checks what the agent needs to answer: a provider the platform runs
(echo always; openai with a key, the agent's own or OPENAI_API_KEY, or with
OPENAI_BASE_URL pointing at a local OpenAI-compatible server) and, when the
agent has a stored key, that it still opens. A failed start leaves the agent in
status error with the reason in status_message and answers
FAILED_PRECONDITION; starting it again retries.

Each transition is announced as `agent.status.changed` to the agent's tenant,
with the shape of seed 002's status events (previous_status, new_status, reason).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from services.agent import model, store
from services.common.crypto import SecretBox, SecretUnreadable
from services.common.errors import Aborted, FailedPrecondition
from services.common.events.publisher import Publisher
from services.common.settings import Settings
from services.common.storage import Database, Row

log = logging.getLogger("agentmesh.agent.lifecycle")

# The providers the speech unit runs; any other name cannot start.
PLATFORM_PROVIDERS = ("echo", "openai")
_DEFAULT_OPENAI_URL = next(f.default for f in dataclasses.fields(Settings) if f.name == "openai_base_url")
_STARTABLE = ("created", "stopped", "error")
_STOPPABLE = ("created", "starting", "running", "error")
# A transition lost to a concurrent one is retried from the new status this many times.
_ATTEMPTS = 8


class Lifecycle:
    """Moves agents through their states in the database and announces every move."""

    def __init__(self, db: Database, settings: Settings, box: SecretBox, events: Publisher) -> None:
        self.db = db
        self.settings = settings
        self.box = box
        self.events = events

    async def _move(self, row: Row, to: str, *, reason: str, message: str = "") -> bool:
        """From exactly the status in `row` to `to`; False when another call moved the agent first."""
        now = time.time()
        started = now if to == "running" else row["started_at"]
        changed = await self.db.execute(
            "UPDATE agents SET status = ?, status_message = ?, updated_at = ?, started_at = ?"
            " WHERE agent_id = ? AND status = ?",
            (to, message, now, started, row["agent_id"], row["status"]),
        )
        if changed:
            log.info("agent %s: %s -> %s", row["agent_id"], row["status"], to)
            self.events.emit(model.event(
                "agent.status.changed", row["tenant_id"], row["agent_id"], agent_id=row["agent_id"],
                name=row["name"], previous_status=row["status"], new_status=to, reason=reason,
            ))
        return bool(changed)

    def provider_problem(self, row: Row) -> str | None:
        """Why the agent could not answer now, or None when it can."""
        provider = row["provider"] or self.settings.llm_provider
        if row["api_key_sealed"] is not None:
            try:
                self.box.open(row["api_key_sealed"], row["agent_id"])
            except SecretUnreadable:
                return "the stored api_key cannot be read with the current encryption key; set it again"
        if provider not in PLATFORM_PROVIDERS:
            available = ", ".join(PLATFORM_PROVIDERS)
            return f"provider {provider!r} is not configured on this platform (available: {available})"
        if provider == "openai" and not (
            row["api_key_sealed"] is not None
            or self.settings.openai_api_key
            or self.settings.openai_base_url != _DEFAULT_OPENAI_URL
        ):
            return "provider 'openai' has no API key: give the agent an api_key or set OPENAI_API_KEY"
        return None

    async def start(self, agent_id: str, tenant_id: str | None) -> Row:
        for _ in range(_ATTEMPTS):
            row = await store.agent_row(self.db, agent_id, tenant_id)
            if row["status"] in ("starting", "running"):
                return row
            if row["status"] == "stopping":
                raise FailedPrecondition(f"agent {agent_id} is stopping; start it once it has stopped",
                                         reason="AGENT_STOPPING")
            assert row["status"] in _STARTABLE
            if await self._move(row, "starting", reason="start requested"):
                return await self._finish_start({**row, "status": "starting"})
        raise Aborted(f"agent {agent_id} is changing state; try again", reason="AGENT_BUSY")

    async def _finish_start(self, row: Row) -> Row:
        problem = self.provider_problem(row)
        if problem is None:
            await self._move(row, "running", reason="started")
            return await store.agent_row(self.db, row["agent_id"], row["tenant_id"])
        await self._move(row, "error", reason=problem, message=problem)
        raise FailedPrecondition(f"agent {row['agent_id']} could not start: {problem}", reason="AGENT_START_FAILED")

    async def stop(self, agent_id: str, tenant_id: str | None) -> Row:
        for _ in range(_ATTEMPTS):
            row = await store.agent_row(self.db, agent_id, tenant_id)
            if row["status"] in ("stopping", "stopped"):
                return row
            assert row["status"] in _STOPPABLE
            if await self._move(row, "stopping", reason="stop requested"):
                await self._move({**row, "status": "stopping"}, "stopped", reason="stopped")
                return await store.agent_row(self.db, agent_id, row["tenant_id"])
        raise Aborted(f"agent {agent_id} is changing state; try again", reason="AGENT_BUSY")

    async def recover(self) -> int:
        """After a restart nothing is mid-transition: a start that was cut short failed, a stop completed."""
        now = time.time()
        failed = await self.db.execute(
            "UPDATE agents SET status = 'error', status_message = ?, updated_at = ? WHERE status = 'starting'",
            ("the agent unit restarted while the agent was starting; start it again", now),
        )
        stopped = await self.db.execute(
            "UPDATE agents SET status = 'stopped', status_message = '', updated_at = ? WHERE status = 'stopping'",
            (now,),
        )
        return failed + stopped

