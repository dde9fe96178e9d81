"""InOrderSender: order, batches, waiting for an absent receiver, and what is dropped past the bound."""

from __future__ import annotations

import asyncio
import logging

import pytest
from agentmesh.v1 import analytics_pb2

from services.common.batching import InOrderSender

Record = analytics_pb2.UsageRecord


class _Receiver(InOrderSender[Record]):
    def __init__(self, *, away: bool, max_pending: int = 10_000) -> None:
        super().__init__("usage record", linger=0.0, max_pending=max_pending)
        self.away = away
        self.batches: list[list[str]] = []

    async def _deliver(self, items: list[Record]) -> list[Record]:
        if self.away:
            return items
        self.batches.append([item.record_id for item in items])
        return []


async def test_what_comes_while_a_batch_is_out_goes_together_in_order() -> None:
    receiver = _Receiver(away=False)
    for n in range(5):
        receiver.send(Record(record_id=f"r{n}"))
    await receiver.send_and_wait(Record(record_id="r5"))
    assert [r for batch in receiver.batches for r in batch] == [f"r{n}" for n in range(6)]
    assert len(receiver.batches) < 6


async def test_past_the_bound_the_oldest_are_dropped_counted_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agentmesh.sending")
    receiver = _Receiver(away=True, max_pending=2)
    for n in range(100):
        receiver.send(Record(record_id=f"r{n}"))
    assert receiver.dropped == 98
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert said == ["1 usage record(s) dropped: more than 2 wait for the receiver"]  # the rest next time
    receiver.away = False
    await asyncio.sleep(0.3)  # the sender tries again after its pause
    assert [r for batch in receiver.batches for r in batch] == ["r98", "r99"]
    await receiver._finish()
