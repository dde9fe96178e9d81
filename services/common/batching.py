"""Sending messages from a unit in the background, in order and in batches (events, usage records)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

log = logging.getLogger("agentmesh.sending")

T = TypeVar("T", bound=Message)
Pending = list[tuple[T, "asyncio.Future[None] | None"]]


class InOrderSender(Generic[T]):
    """Sends messages in the order they were handed over, in batches, by one sender task at a time.

    Messages handed over while a batch is on its way go together in the next
    one, so a burst costs one trip instead of one per message, and a subject's
    events (a task's created, progress and completed within the same moment)
    arrive in the order they happened. Under a steady stream the sender pauses
    `linger` seconds after each batch (the first message after a quiet moment
    goes at once): a little more time on the way, many times fewer trips.

    While the receiver cannot be reached (a unit restarting, Redis away) the
    messages wait, in order, and go when it is back: the sender tries again
    after 0.1 s, doubling to 2 s. At most `max_pending` wait; past that the
    oldest are dropped, and said so in the log. A message the receiver
    refuses, or that may have reached it (a call that timed out), is not sent
    again. Subclasses say how a batch is delivered (`_deliver`) and may refuse
    a message before it queues (`_admit`).
    """

    MAX_BATCH = 500
    MAX_BATCH_BYTES = 1 << 20  # well inside gRPC's 4 MiB message limit, both ways
    LINGER = 0.004
    MAX_PENDING = 10_000
    RETRY = (0.1, 2.0)
    OVERFLOW_LOG = 10.0  # seconds between two lines about messages dropped for want of room

    def __init__(self, what: str, *, linger: float = LINGER, max_pending: int = MAX_PENDING) -> None:
        self._what = what  # what the messages are, for the log: "event", "usage record"
        self._linger = linger
        self._max_pending = max_pending
        self._queue: Pending[T] = []
        self._sender: asyncio.Task[None] | None = None
        self._stalled = asyncio.Event()  # set while the sender waits for an unreachable receiver
        self.dropped = 0  # messages given up because too many waited for an unreachable receiver
        self._unsaid = 0  # of which not said in the log yet
        self._said_at = -self.OVERFLOW_LOG

    async def _deliver(self, items: list[T]) -> list[T]:
        """Deliver the messages in order; what is left because the receiver could not be reached (a tail of
        `items`) comes back to be tried again. Other failures are logged, never raised."""
        raise NotImplementedError

    def _admit(self, item: T) -> bool:
        """Whether the message may queue (False: it was refused here, and the refusal logged)."""
        return True

    async def send_and_wait(self, item: T) -> None:
        """Hand the message over and wait until the receiver has it (or it was given up)."""
        done = asyncio.get_running_loop().create_future()
        self._hand_over(item, done)
        await asyncio.shield(done)  # a cancelled caller does not take the batch down with it

    def send(self, item: T) -> None:
        """Hand the message over; the caller does not wait."""
        self._hand_over(item, None)

    def _hand_over(self, item: T, done: asyncio.Future[None] | None) -> None:
        if not self._admit(item):
            _settle([(item, done)])
            return
        self._queue.append((item, done))
        if len(self._queue) > self._max_pending:
            excess = len(self._queue) - self._max_pending
            self._overflow(self._queue[:excess])
            del self._queue[:excess]
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        pause = self.RETRY[0]
        try:
            while self._queue:
                batch = self._next_batch()
                try:
                    left = await self._deliver([item for item, _ in batch])
                except Exception:  # a message is never worth failing the call that caused it
                    log.warning("%d %s(s) not delivered", len(batch), self._what, exc_info=True)
                    left = []
                sent = len(batch) - len(left)
                _settle(batch[:sent])
                if left:  # the bus is away: the rest waits at the front, in order
                    self._queue[:0] = batch[sent:]
                    self._stalled.set()
                    await asyncio.sleep(pause)
                    self._stalled.clear()
                    pause = min(pause * 2, self.RETRY[1])
                    continue
                pause = self.RETRY[0]
                if self._linger > 0:
                    await asyncio.sleep(self._linger)  # what comes meanwhile goes in the next batch
        finally:
            self._sender = None
            if self._queue:  # cancelled (closing): whoever waits is told it is over
                self._give_up(self._queue, "closing")
                self._queue = []

    def _next_batch(self) -> Pending[T]:
        """The oldest messages, at most MAX_BATCH of them and MAX_BATCH_BYTES together (at least one)."""
        size, count = 0, 0
        for item, _ in self._queue[: self.MAX_BATCH]:
            size += item.ByteSize()
            if count and size > self.MAX_BATCH_BYTES:
                break
            count += 1
        batch, self._queue = self._queue[:count], self._queue[count:]
        return batch

    def _overflow(self, pending: Pending[T]) -> None:
        """The oldest waiting messages, dropped to make room: counted at once, said at most every OVERFLOW_LOG s."""
        self.dropped += len(pending)
        self._unsaid += len(pending)
        _settle(pending)
        now = time.monotonic()
        if now - self._said_at >= self.OVERFLOW_LOG:
            log.warning("%d %s(s) dropped: more than %d wait for the receiver", self._unsaid, self._what,
                        self._max_pending)
            self._said_at, self._unsaid = now, 0

    def _give_up(self, pending: Pending[T], why: str) -> None:
        self.dropped += len(pending)
        log.warning("%d %s(s) dropped (%s): %s", len(pending), self._what, why, self._describe([i for i, _ in pending]))
        _settle(pending)

    def _describe(self, items: list[T]) -> str:
        """What a list of messages is, for the log (events: their types)."""
        return f"{len(items)} {self._what}(s)"

    async def _finish(self) -> None:
        """Let the queued messages go out (two seconds at most; at once when the receiver is away)."""
        sender = self._sender
        if sender is not None:
            stalled = asyncio.ensure_future(self._stalled.wait())
            await asyncio.wait({sender, stalled}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
            stalled.cancel()
            if not sender.done():
                sender.cancel()
                await asyncio.wait({sender})


def _settle(pending: Pending[Any]) -> None:
    for _, done in pending:
        if done is not None and not done.done():
            done.set_result(None)
