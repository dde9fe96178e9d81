"""After a change is committed: its events to the unit's feeds, and the platform's events to the bus.

Platform events (tenant_id set, subject the task or run) are published in the
background, in the order they happened (the publisher keeps it), and never fail
the change that caused them:
task.created, task.progress, task.completed, task.failed, task.cancelled;
workflow.run.started, workflow.run.completed, workflow.run.failed,
workflow.run.cancelled, workflow.step.started, workflow.step.completed,
workflow.step.failed, workflow.step.skipped.
"""

from __future__ import annotations

from typing import Any

from agentmesh.v1 import common_pb2

from services.common.events.publisher import Publisher
from services.common.feeds import Feeds
from services.task.feeds import FINAL_ROW
from services.task.model import EVENT_OUTPUT_MAX, FINAL

Row = dict[str, Any]
_FINAL_TYPES = {"succeeded": "task.completed", "failed": "task.failed", "cancelled": "task.cancelled"}
# Run feed events that are announced on the platform bus too.
RUN_ANNOUNCED = frozenset({
    "workflow.run.started", "workflow.run.completed", "workflow.run.failed", "workflow.run.cancelled",
    "workflow.step.started", "workflow.step.completed", "workflow.step.failed", "workflow.step.skipped",
})


RUN_FINAL = frozenset({"workflow.run.completed", "workflow.run.failed", "workflow.run.cancelled"})


class Notices:
    def __init__(self, feeds: Feeds, publisher: Publisher) -> None:
        self.feeds = feeds
        self.publisher = publisher

    def task_created(self, task: Row, events: list[Row]) -> None:
        self._feed_task(task, events)
        self._announce_task("task.created", task)

    def task_changed(self, task: Row, events: list[Row]) -> None:
        self._feed_task(task, events)
        final = next((e for e in events if e["type"] == "task.status" and e["status"] in FINAL), None)
        if final is not None:  # the final event says it all; the progress that came with it is not announced
            self._announce_task(_FINAL_TYPES[final["status"]], task, message=final["message"])
            return
        for event in events:
            if event["type"] == "task.progress" or (event["type"] == "task.status" and event["status"] == "running"):
                self._announce_task("task.progress", task, message=event["message"])

    def run_changed(self, run: Row, events: list[Row]) -> None:
        for event in events:
            self.feeds.publish(f"run:{run['run_id']}", event)
            self.feeds.publish(f"workflow:{run['workflow_id']}", event)
            if event["type"] in RUN_ANNOUNCED:
                data = {
                    "run_id": run["run_id"],
                    "workflow_id": run["workflow_id"],
                    "status": event["status"],
                    "step_id": event["step_id"],
                    "message": event["message"],
                    "progress": event["progress"],
                }
                if event["type"] in RUN_FINAL and run.get("started_at") and run.get("finished_at"):
                    data["duration_ms"] = round((run["finished_at"] - run["started_at"]) * 1000, 3)
                self._announce(event["type"], run["tenant_id"], run["run_id"], data)

    def _feed_task(self, task: Row, events: list[Row]) -> None:
        key = f"task:{task['task_id']}"
        for event in events:
            if event["type"] == "task.status" and event["status"] in FINAL:
                event = {**event, FINAL_ROW: task}  # who waits for the end needs nothing more
            self.feeds.publish(key, event)

    def _announce_task(self, kind: str, task: Row, *, message: str = "") -> None:
        data: dict[str, Any] = {
            "task_id": task["task_id"],
            "status": task["status"],
            "progress": float(task["progress"]),
            "agent_id": task["agent_id"],
            "team_id": task["team_id"],
            "owner_id": task["owner_id"],
            "attempts": int(task["attempts"]),
        }
        if task["workflow_run_id"]:
            data["workflow_run_id"] = task["workflow_run_id"]
        if message:
            data["message"] = message
        if kind == "task.completed":
            data["output"] = task["output"][:EVENT_OUTPUT_MAX]
        if kind in _FINAL_TYPES.values():
            data["prompt_tokens"] = int(task["prompt_tokens"])
            data["completion_tokens"] = int(task["completion_tokens"])
            data["total_tokens"] = int(task["total_tokens"])
        if kind == "task.failed":
            data["error"] = task["error"]
        if kind in _FINAL_TYPES.values() and task["started_at"] and task["finished_at"]:
            data["duration_ms"] = round((task["finished_at"] - task["started_at"]) * 1000, 3)
        self._announce(kind, task["tenant_id"], task["task_id"], data)

    def _announce(self, kind: str, tenant_id: str, subject_id: str, data: dict[str, Any]) -> None:
        event = common_pb2.Event(type=kind, tenant_id=tenant_id, subject_id=subject_id)
        event.data.update(data)
        self.publisher.emit(event)
