"""How a task's workers answer it: one agent, or a team by its strategy.

- sequential: every member in position order; the first gets the task's
  prompt, each next one the previous member's output; the last output is the
  task's.
- round_robin: one member per task, in turn (the turn is kept per team, in the
  database, so it survives restarts).
- first_answer: every member at once; the first successful answer wins and the
  other calls are cancelled.

A model call that fails transiently (the speech unit restarting or overloaded)
is tried again a few times within the task's deadline; any other failure fails
the task with a message naming the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.common.authctx import Actor
from services.common.llm import NO_USAGE, Generation, ModelClient, ModelRequest, RemoteCallError, Usage
from services.task.workers import Worker, Workers

# (progress 0..1 or None to leave it, level, message, structured fields)
Report = Callable[[float | None, str, str, dict[str, Any]], Awaitable[None]]
# (team id, member count) -> the member whose turn it is
NextTurn = Callable[[str, int], Awaitable[int]]

RETRY_DELAYS = (0.2, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Job:
    """What one task asks of its workers."""

    prompt: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    output: str
    usage: Usage
    answered_by: tuple[str, ...]
    output_data: dict[str, Any] = field(default_factory=dict)


class ExecutionError(Exception):
    """The task fails with this message; `usage` counts what was consumed before the failure."""

    def __init__(self, message: str, usage: Usage = NO_USAGE) -> None:
        super().__init__(message)
        self.usage = usage


def model_request(worker: Worker, prompt: str, overrides: dict[str, Any],
                  labels: tuple[tuple[str, str], ...] = ()) -> ModelRequest:
    """The agent's settings with the task's parameter overrides on top."""
    params = {**worker.parameters, **overrides}
    temperature = params.pop("temperature", None)
    max_tokens = params.pop("max_tokens", 0)
    model = params.pop("model", None)
    return ModelRequest(
        prompt=prompt,
        system=worker.system_prompt,
        model=str(model) if isinstance(model, str) and model else worker.model,
        provider=worker.provider,
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        max_tokens=int(max_tokens) if isinstance(max_tokens, int | float) else 0,
        api_key=worker.api_key,
        parameters=params,
        labels=(*labels, ("agent_id", worker.agent_id)),
    )


def structured(text: str) -> dict[str, Any]:
    """A JSON object answer doubles as the task's structured output."""
    candidate = text.strip()
    if not candidate.startswith("{"):
        return {}
    try:
        value = json.loads(candidate)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Execution:
    """One attempt at one task."""

    def __init__(self, model: ModelClient, actor: Actor, report: Report, next_turn: NextTurn, *,
                 deadline: float, labels: tuple[tuple[str, str], ...] = ()) -> None:
        self.model = model
        self.labels = labels  # what the task's model calls are for (services.common.llm.ModelRequest)
        self.actor = actor
        self.report = report
        self.next_turn = next_turn
        self.deadline = deadline  # event-loop time

    async def run(self, job: Job, workers: Workers) -> Outcome:
        if not workers.agents:
            raise ExecutionError(f"team {workers.team_id} has no members" if workers.team_id else "no agent to run")
        if not workers.team_id:
            return await self._single(job, workers.agents[0])
        strategy = workers.strategy or "sequential"
        if strategy == "sequential":
            return await self._sequential(job, workers)
        if strategy == "round_robin":
            turn = await self.next_turn(workers.team_id, len(workers.agents))
            await self.report(None, "info", f"round_robin: member {turn + 1} of {len(workers.agents)} takes the task",
                              {"agent_id": workers.agents[turn].agent_id})
            return await self._single(job, workers.agents[turn])
        if strategy == "first_answer":
            return await self._first_answer(job, workers)
        raise ExecutionError(f"team {workers.team_id} has an unknown strategy {strategy!r}")

    async def _single(self, job: Job, worker: Worker) -> Outcome:
        answer = await self._ask(worker, job.prompt, job.parameters)
        await self.report(1.0, "info", f"agent {worker.agent_id} answered", _fields(worker, answer))
        return Outcome(answer.text, answer.usage, (worker.agent_id,), structured(answer.text))

    async def _sequential(self, job: Job, workers: Workers) -> Outcome:
        prompt, used, count = job.prompt, Usage(), len(workers.agents)
        for position, worker in enumerate(workers.agents):
            try:
                answer = await self._ask(worker, prompt, job.parameters)
            except ExecutionError as exc:
                raise ExecutionError(f"member {position + 1} of {count}: {exc}", used + exc.usage) from exc
            used += answer.usage
            prompt = answer.text
            await self.report((position + 1) / count, "info",
                              f"member {position + 1} of {count} (agent {worker.agent_id}) answered",
                              _fields(worker, answer))
        return Outcome(prompt, used, tuple(w.agent_id for w in workers.agents), structured(prompt))

    async def _first_answer(self, job: Job, workers: Workers) -> Outcome:
        calls = {
            asyncio.ensure_future(self._ask(worker, job.prompt, job.parameters)): worker for worker in workers.agents
        }
        pending = set(calls)
        failures: list[str] = []
        used = Usage()
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for call in done:
                    worker = calls[call]
                    error = call.exception()
                    if error is None:
                        answer = call.result()
                        await self.report(1.0, "info", f"agent {worker.agent_id} answered first",
                                          _fields(worker, answer))
                        return Outcome(answer.text, used + answer.usage, (worker.agent_id,), structured(answer.text))
                    if isinstance(error, ExecutionError):
                        used += error.usage
                    failures.append(str(error))
                    await self.report(None, "warning", f"agent {worker.agent_id} failed: {error}",
                                      {"agent_id": worker.agent_id})
        finally:
            for call in pending:
                call.cancel()
            for call in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await call
        raise ExecutionError("every member failed: " + "; ".join(failures), used)

    async def _ask(self, worker: Worker, prompt: str, overrides: dict[str, Any]) -> Generation:
        request = model_request(worker, prompt, overrides, self.labels)
        loop = asyncio.get_running_loop()
        for delay in (*RETRY_DELAYS, None):
            # A second past the task's deadline: the task's own timeout fires first and says "timeout".
            remaining = self.deadline - loop.time() + 1.0
            try:
                answer = await self.model.generate(self.actor, request, time_limit=max(remaining, 0.1))
            except RemoteCallError as exc:
                if not exc.transient or delay is None:
                    raise ExecutionError(f"agent {worker.agent_id}: {exc}") from exc
                await self.report(None, "warning", f"agent {worker.agent_id}: {exc}; trying again in {delay:.1f} s",
                                  {"agent_id": worker.agent_id, "code": exc.code.name})
                await asyncio.sleep(delay)
                continue
            if answer.finish_reason == "error":
                raise ExecutionError(f"agent {worker.agent_id}: the model failed: {answer.text[:500]}", answer.usage)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover


def _fields(worker: Worker, answer: Generation) -> dict[str, Any]:
    return {
        "agent_id": worker.agent_id,
        "provider": answer.provider,
        "model": answer.model,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "total_tokens": answer.usage.total_tokens,
        "finish_reason": answer.finish_reason,
    }
