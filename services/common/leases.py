"""Runner leases: which runners of a unit are alive, so replicas that share one database can tell work a
crashed runner left behind from work a live runner still holds.

A runner (the task runner, the persona executor, the behaviour-analysis runner)
takes a lease when it starts: a row in `runner_leases` that it renews every
`interval` seconds and deletes at a clean stop. Work it claims carries its
`runner_id`. A lease not renewed for `ttl` seconds has lapsed: its runner
crashed, or lost the database long enough to be taken for dead, and any runner
of the unit may take its work over (`LIVE_RUNNERS` tells the two apart in SQL).

The oldest live lease of a role `leads`: work only one process may do (the
admin unit's recorder of the hub) runs where the lease leads, and moves to the
next oldest when that one lapses. After each renewal the lease calls its
`on_renew` hooks: that is where a runner takes over lapsed work and, when
`peers` says other runners share the database, looks for what they changed (a
cancel recorded by another replica, a task it queued). Renewal times are each
process's own clock, so replicas on several hosts need their clocks in step to
well under `ttl` (NTP does it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from services.common.protoutil import new_id
from services.common.storage import Database, Migration, Row, Statement

log = logging.getLogger("agentmesh.leases")

LEASES_SQL = """
CREATE TABLE IF NOT EXISTS runner_leases (
    runner_id   TEXT PRIMARY KEY,
    role        TEXT NOT NULL,
    started_at  REAL NOT NULL,
    renewed_at  REAL NOT NULL
);
"""


def leases_migration(version: int) -> Migration:
    """The step that adds the leases table to a unit's schema, at the unit's next version."""
    return Migration(version, "runner leases", LEASES_SQL)


# The runners whose lease is live; its one parameter is `Lease.live_since()`.
LIVE_RUNNERS = "SELECT runner_id FROM runner_leases WHERE renewed_at > ?"

# A lease this long lapsed is deleted (its runner's work was taken over long before).
_FORGET_AFTER = 20

Hook = Callable[[], Awaitable[None]]


class Lease:
    def __init__(self, db: Database, role: str, *, ttl: float) -> None:
        self.db = db
        self.role = role
        self.ttl = ttl
        self.interval = min(max(ttl / 5, 0.05), 1.0)
        self.runner_id = new_id("runner")
        self.peers = 0  # other live runners of the role, as of the last renewal
        self.leads = False  # the oldest live runner of the role: the one that does what only one may do
        self.on_renew: list[Hook] = []
        self._loop: asyncio.Task[None] | None = None

    def live_since(self) -> float:
        """A lease renewed after this time is live."""
        return time.time() - self.ttl

    async def acquire(self) -> None:
        """Take the lease (before claiming any work) and count the peers."""
        now = time.time()
        _, peers, oldest = await self.db.batch([
            Statement("INSERT INTO runner_leases (runner_id, role, started_at, renewed_at) VALUES (?, ?, ?, ?)",
                      (self.runner_id, self.role, now, now)),
            *self._census(),
        ])
        self._note(peers, oldest)

    def keep(self) -> None:
        """Renew the lease in the background until release()."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._renewing(), name=f"lease-{self.role}")

    async def release(self) -> None:
        """Stop renewing and give the lease up (after the runner has given its work back)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.db.execute("DELETE FROM runner_leases WHERE runner_id = ?", (self.runner_id,))

    async def renew(self) -> None:
        """One renewal and its hooks (the background loop calls this; tests may too)."""
        now = time.time()
        _, renewed, peers, oldest = await self.db.batch([
            Statement("DELETE FROM runner_leases WHERE role = ? AND renewed_at < ?",
                      (self.role, now - _FORGET_AFTER * self.ttl)),
            Statement("UPDATE runner_leases SET renewed_at = ? WHERE runner_id = ? RETURNING runner_id",
                      (now, self.runner_id)),
            *self._census(),
        ])
        if not renewed:  # forgotten after a long stall: take it again (the work it held was taken over)
            log.warning("%s lease %s had lapsed; taken again", self.role, self.runner_id)
            await self.acquire()
        else:
            self._note(peers, oldest)
        for hook in self.on_renew:
            await hook()

    def _census(self) -> tuple[Statement, Statement]:
        """The live peers, and the oldest live runner (the leader)."""
        live_since = self.live_since()
        return (
            Statement("SELECT COUNT(*) AS n FROM runner_leases WHERE role = ? AND runner_id <> ? AND renewed_at > ?",
                      (self.role, self.runner_id, live_since)),
            Statement("SELECT runner_id FROM runner_leases WHERE role = ? AND renewed_at > ?"
                      " ORDER BY started_at, runner_id LIMIT 1", (self.role, live_since)),
        )

    def _note(self, peers_rows: list[Row], oldest: list[Row]) -> None:
        peers = int(peers_rows[0]["n"]) if peers_rows else 0
        leads = bool(oldest) and oldest[0]["runner_id"] == self.runner_id
        if peers != self.peers or leads != self.leads:
            log.info("%s runners sharing the database: %d%s", self.role, peers + 1,
                     " (this one leads)" if leads else "",
                     extra={"runner": self.runner_id, "peers": peers, "leads": leads})
        self.peers, self.leads = peers, leads

    async def _renewing(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s lease %s: renewal failed; trying again", self.role, self.runner_id)
