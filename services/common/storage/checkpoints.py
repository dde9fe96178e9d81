"""WAL checkpoints away from the writer: a connection of their own, on a thread of their own.

A checkpoint copies the write-ahead log back into the database file and syncs
that file. SQLite's automatic checkpoint runs inside whichever COMMIT crosses
its threshold, so that writer waits for the disk, which on a machine whose disk
is busy means a tenth of a second or more; when the writer is the event loop
(a batch that found the connection idle runs there), the whole unit waits.

So the writing connection only checkpoints past a high backstop, and a PASSIVE
checkpoint runs here instead, at most every `interval` seconds while the
database is in use. WAL mode lets it run alongside the writer and the readers:
it copies what no reader still needs and never blocks anyone.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("agentmesh.storage")

# Pages the writing connection lets the log grow to before it checkpoints by itself (about 40 MB):
# reached only when the background checkpoints cannot keep up.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    def __init__(self, path: str, *, interval: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running = False
        self._closed = False
        self._next = 0.0
        self.completed = 0  # checkpoints run so far

    def nudge(self) -> None:
        """The database is in use: start a checkpoint if one is due and none runs. Cheap enough for every call."""
        if self._running or self._closed:
            return
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self.interval
        self._running = True
        self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.completed += 1
        except sqlite3.Error:
            log.warning("background WAL checkpoint failed; the writer's backstop remains", exc_info=True)
        finally:
            self._running = False

    def close(self) -> None:
        """Wait for a checkpoint under way, then close the connection (blocking: call it from a thread)."""
        self._closed = True
        self._executor.submit(self._disconnect)
        self._executor.shutdown(wait=True)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
