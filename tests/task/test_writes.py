"""The task store's one-trip writes: what each change records, in which order, and what it claims.

A real SQLite database with the unit's migrations; the runner's own writes
(create with a claim, finish handing the worker on, release at a stop) are
driven directly, as the runner makes them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.authctx import Actor
from services.common.llm import Usage
from services.common.storage.sqlite import SqliteDatabase
from services.task.changes import Change, NewTask, Note, Result
from services.task.schema import MIGRATIONS
from services.task.store import TaskStore

ACTOR = Actor("alice", "tenant-a", "user")
RUNNER = "runner_test"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TaskStore]:
    db = await SqliteDatabase.open(tmp_path / "task.db")
    await db.migrate(MIGRATIONS)
    yield TaskStore(db)
    await db.close()


def _new(name: str, priority: int = 0) -> NewTask:
    return NewTask(tenant_id="tenant-a", owner_id="alice", actor=ACTOR, agent_id="a1", input=name, priority=priority)


def _shape(change: Change) -> list[tuple[str, str, str]]:
    return [(e["type"], e["status"], e["message"]) for e in change[1]]


async def _stored_events(store: TaskStore, task_id: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["status"], e["message"]) for e in await store.events_after(task_id, 0)]


async def test_a_create_with_free_workers_claims_in_the_same_write(store: TaskStore) -> None:
    (row, events), created, claimed = await store.create(_new("now"), runner_id=RUNNER, claim=2)
    assert created and row["status"] == "queued"
    assert [(r["task_id"], r["status"], r["attempts"], r["runner_id"]) for r, _ in claimed] == [
        (row["task_id"], "running", 1, RUNNER)]
    stored = await _stored_events(store, row["task_id"])
    assert stored == [("task.status", "queued", "queued"), ("task.log", "queued", "queued for agent a1"),
                      ("task.status", "running", "running"), ("task.log", "running", "attempt 1 started")]
    assert _shape((row, events)) + _shape(claimed[0]) == stored
    attempt_line = claimed[0][1][1]
    assert (attempt_line["level"], json.loads(attempt_line["fields"])) == ("info", {"attempt": 1})


async def test_a_claim_takes_the_highest_priority_then_the_oldest(store: TaskStore) -> None:
    for name, priority in (("low-1", 0), ("high", 9), ("low-2", 0), ("mid", 4)):
        await store.create(_new(name, priority))
    claimed = await store.claim(RUNNER, 3)
    assert [r["input"] for r, _ in claimed] == ["high", "mid", "low-1"]
    for row, events in claimed:  # each claimed task gets its own two events, status first
        assert [(e["task_id"], e["type"]) for e in events] == [(row["task_id"], "task.status"),
                                                                (row["task_id"], "task.log")]
    assert [r["input"] for r, _ in await store.claim(RUNNER, 3)] == ["low-2"]
    assert await store.claim(RUNNER, 3) == []


async def test_a_finish_records_the_result_and_hands_the_worker_on(store: TaskStore) -> None:
    (first, _), _, [(running, _)] = await store.create(_new("first"), runner_id=RUNNER, claim=1)
    (second, _), _, none_free = await store.create(_new("second"))
    assert none_free == [] and second["status"] == "queued"
    notes = [Note("task.log", "running", 0.0, "resolved agent a1: 1 agent", "info", fields={"agents": ["a1"]})]
    change, handed = await store.finish(
        first["task_id"], RUNNER, Result("succeeded", output="done", usage=Usage(1, 2, 3), message="succeeded (a1)"),
        attempt=int(running["attempts"]), progress=0.0, notes=notes, claim=1,
    )
    assert change is not None
    task, events = change
    assert (task["status"], task["output"], task["progress"], task["total_tokens"]) == ("succeeded", "done", 1.0, 3)
    assert [(e["type"], e["status"], e["progress"], e["message"]) for e in events] == [
        ("task.log", "running", 0.0, "resolved agent a1: 1 agent"),
        ("task.output", "succeeded", 1.0, ""),
        ("task.log", "succeeded", 1.0, "succeeded (a1)"),
        ("task.status", "succeeded", 1.0, "succeeded (a1)"),
    ]
    assert json.loads(events[2]["fields"]) == {"total_tokens": 3, "attempt": 1}
    assert events[-1]["event_id"] == max(e["event_id"] for e in events)  # the final status is the last event
    assert [(r["task_id"], r["status"]) for r, _ in handed] == [(second["task_id"], "running")]
    assert handed[0][1][0]["event_id"] > events[-1]["event_id"]


async def test_a_finish_after_a_cancel_writes_nothing_and_claims_nothing(store: TaskStore) -> None:
    (first, _), _, [(running, _)] = await store.create(_new("first"), runner_id=RUNNER, claim=1)
    await store.create(_new("waiting"))
    cancelled = await store.cancel("tenant-a", first["task_id"], "changed my mind")
    assert cancelled is not None and cancelled[0]["status"] == "cancelled"
    before = await _stored_events(store, first["task_id"])
    change, handed = await store.finish(first["task_id"], RUNNER, Result("succeeded", output="late"),
                                        attempt=int(running["attempts"]), progress=0.0, claim=1)
    assert (change, handed) == (None, [])
    assert await _stored_events(store, first["task_id"]) == before
    row = await store.get("tenant-a", first["task_id"])
    assert row is not None and (row["status"], row["output"]) == ("cancelled", "")
    queued = await store.db.fetch_all("SELECT input FROM tasks WHERE status = 'queued'")
    assert queued == [{"input": "waiting"}]


async def test_a_failed_attempt_keeps_the_progress_it_stored(store: TaskStore) -> None:
    (row, _), _, [_] = await store.create(_new("team work"), runner_id=RUNNER, claim=1)
    reported = await store.report(row["task_id"], RUNNER, 0.5, [Note("task.progress", "running", 0.5, "half")])
    assert reported is not None and reported[0]["progress"] == 0.5
    change, _ = await store.finish(row["task_id"], RUNNER, Result("failed", error="boom"), attempt=1, progress=0.5)
    assert change is not None
    assert change[0]["progress"] == 0.5
    assert [(e["type"], e["progress"], e["level"], e["message"]) for e in change[1]] == [
        ("task.log", 0.5, "error", "boom"), ("task.status", 0.5, "", "boom")]


async def test_a_stop_gives_back_what_was_claimed_but_not_started(store: TaskStore) -> None:
    """A claim that lands while the unit stops (a finish handing on, the dispatcher) leaves rows the runner
    never starts: release gives every running task of the runner back, the attempt not counted."""
    (worked, _), _, _ = await store.create(_new("worked"), runner_id=RUNNER, claim=1)
    await store.create(_new("claimed, not started"))
    await store.claim(RUNNER, 1)
    await store.create(_new("someone else's"), runner_id="runner_other", claim=1)
    released = await store.release(RUNNER)
    assert sorted(r["input"] for r, _ in released) == ["claimed, not started", "worked"]
    assert {(r["status"], r["attempts"], r["runner_id"]) for r, _ in released} == {("queued", 0, "")}
    other = await store.db.fetch_one("SELECT status, runner_id FROM tasks WHERE input = ?", ("someone else's",))
    assert other == {"status": "running", "runner_id": "runner_other"}
    assert [e["message"] for e in (await store.events_after(worked["task_id"], 0))[-2:]] == [
        "the unit stopped mid-attempt; queued again", "queued again: the unit stopped"]


async def test_an_idempotency_key_still_names_the_first_task(store: TaskStore) -> None:
    keyed = NewTask(tenant_id="tenant-a", owner_id="alice", actor=ACTOR, agent_id="a1", input="once",
                    idempotency_key="k-1")
    (first, events), created, _ = await store.create(keyed, runner_id=RUNNER, claim=1)
    assert created and len(events) == 2
    (again, none), created_again, claimed = await store.create(keyed, runner_id=RUNNER, claim=1)
    assert (again["task_id"], none, created_again, claimed) == (first["task_id"], [], False, [])
