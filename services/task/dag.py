"""A workflow's steps as a graph: validation, order, and the prompts a run renders.

Steps name the steps they depend on (`depends_on`); the graph must be acyclic.
A prompt template may use `{{input.<key>}}` (nested keys with dots) for the
run's input and `{{steps.<step_id>.output}}` for the output of a step it
depends on, directly or through others. A step without a template gets the
outputs of the steps it depends on, or, for a first step, the run's
input_data.prompt (seed 001's body) or the whole input as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import task_pb2

from services.common.crud import MAX_ID
from services.common.errors import FieldViolation
from services.task.model import MAX_INPUT

MAX_STEPS = 100
MAX_NAME = 200
_STEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_INPUT_REF = re.compile(r"^input((?:\.[A-Za-z0-9_-]+)+)$")
_STEP_REF = re.compile(r"^steps\.([A-Za-z0-9][A-Za-z0-9_-]*)\.output$")


@dataclass(frozen=True, slots=True)
class Step:
    step_id: str
    agent_id: str
    name: str = ""
    prompt_template: str = ""
    depends_on: tuple[str, ...] = ()

    @classmethod
    def of(cls, message: task_pb2.WorkflowStep) -> Step:
        return cls(
            step_id=message.step_id.strip(),
            agent_id=message.agent_id.strip(),
            name=message.name.strip(),
            prompt_template=message.prompt_template,
            depends_on=tuple(d.strip() for d in message.depends_on),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(str(data["step_id"]), str(data["agent_id"]), str(data.get("name", "")),
                   str(data.get("prompt_template", "")), tuple(str(d) for d in data.get("depends_on", ())))

    def to_dict(self) -> dict[str, Any]:
        return {"step_id": self.step_id, "agent_id": self.agent_id, "name": self.name,
                "prompt_template": self.prompt_template, "depends_on": list(self.depends_on)}

    def message(self) -> task_pb2.WorkflowStep:
        return task_pb2.WorkflowStep(step_id=self.step_id, agent_id=self.agent_id, name=self.name,
                                     prompt_template=self.prompt_template, depends_on=list(self.depends_on))


def steps_json(steps: Iterable[Step]) -> str:
    return json.dumps([s.to_dict() for s in steps], separators=(",", ":"))


def steps_from_json(text: str) -> list[Step]:
    return [Step.from_dict(item) for item in json.loads(text or "[]")]


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def input_path(reference: str) -> tuple[str, ...] | None:
    match = _INPUT_REF.match(reference)
    return tuple(match.group(1)[1:].split(".")) if match else None


def step_reference(reference: str) -> str | None:
    match = _STEP_REF.match(reference)
    return match.group(1) if match else None


def step_violations(field: str, steps: Sequence[Step]) -> list[FieldViolation]:
    """Everything wrong with the steps, each violation naming the field (steps[2].depends_on...)."""
    found: list[FieldViolation] = []
    if len(steps) > MAX_STEPS:
        return [FieldViolation(field, f"at most {MAX_STEPS} steps")]
    ids = [s.step_id for s in steps]
    seen: set[str] = set()
    for i, step in enumerate(steps):
        at = f"{field}[{i}]"
        if not step.step_id:
            found.append(FieldViolation(f"{at}.step_id", "is required"))
        elif not _STEP_ID.match(step.step_id):
            found.append(FieldViolation(f"{at}.step_id", "1 to 64 letters, digits, '-' or '_', starting with a "
                                                         "letter or digit"))
        elif step.step_id in seen:
            found.append(FieldViolation(f"{at}.step_id", f"duplicate step id {step.step_id!r}"))
        seen.add(step.step_id)
        if not step.agent_id:
            found.append(FieldViolation(f"{at}.agent_id", "is required"))
        elif len(step.agent_id) > MAX_ID:
            found.append(FieldViolation(f"{at}.agent_id", f"at most {MAX_ID} characters"))
        if len(step.name) > MAX_NAME:
            found.append(FieldViolation(f"{at}.name", f"at most {MAX_NAME} characters"))
        if len(step.prompt_template) > MAX_INPUT:
            found.append(FieldViolation(f"{at}.prompt_template", f"at most {MAX_INPUT} characters"))
        for dependency in step.depends_on:
            if dependency == step.step_id:
                found.append(FieldViolation(f"{at}.depends_on", f"step {step.step_id!r} cannot depend on itself"))
            elif dependency not in ids:
                found.append(FieldViolation(f"{at}.depends_on", f"unknown step {dependency!r}"))
        if len(set(step.depends_on)) != len(step.depends_on):
            found.append(FieldViolation(f"{at}.depends_on", "names a step twice"))
    if found:
        return found
    cycle = find_cycle(steps)
    if cycle:
        return [FieldViolation(f"{field}", "the steps form a cycle: " + " -> ".join(cycle))]
    return template_violations(field, steps)


def find_cycle(steps: Sequence[Step]) -> list[str]:
    """One cycle through depends_on (first step repeated at the end), or [] when the graph is acyclic."""
    graph = {s.step_id: s.depends_on for s in steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dependency in graph.get(node, ()):
            if state.get(dependency) == 1:
                return [*path[path.index(dependency):], dependency]
            if dependency not in state:
                cycle = visit(dependency)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return []

    for step in steps:
        if step.step_id not in state:
            cycle = visit(step.step_id)
            if cycle:
                return cycle
    return []


def ancestors(steps: Sequence[Step]) -> dict[str, set[str]]:
    """Every step's direct and indirect dependencies (the graph is acyclic)."""
    graph = {s.step_id: s.depends_on for s in steps}
    memo: dict[str, set[str]] = {}

    def of(node: str) -> set[str]:
        if node not in memo:
            found: set[str] = set()
            for dependency in graph.get(node, ()):
                found |= {dependency, *of(dependency)}
            memo[node] = found
        return memo[node]

    return {s.step_id: of(s.step_id) for s in steps}


def template_violations(field: str, steps: Sequence[Step]) -> list[FieldViolation]:
    found = []
    upstream = ancestors(steps)
    for i, step in enumerate(steps):
        for reference in placeholders(step.prompt_template):
            at = f"{field}[{i}].prompt_template"
            if input_path(reference) is not None:
                continue
            source = step_reference(reference)
            if source is None:
                found.append(FieldViolation(at, f"unknown placeholder {{{{{reference}}}}}; use {{{{input.<key>}}}} "
                                                "or {{steps.<step_id>.output}}"))
            elif source not in upstream[step.step_id]:
                found.append(FieldViolation(at, f"uses the output of step {source!r}, which it does not depend on"))
    return found


def sinks(steps: Sequence[Step]) -> list[str]:
    """The final steps: those no other step depends on."""
    needed = {d for s in steps for d in s.depends_on}
    return [s.step_id for s in steps if s.step_id not in needed]


def lookup(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def missing_inputs(steps: Sequence[Step], input_data: Mapping[str, Any]) -> list[FieldViolation]:
    """Run input the steps' templates need and the request lacks."""
    found = []
    for step in steps:
        for reference in placeholders(step.prompt_template):
            path = input_path(reference)
            if path is not None and lookup(input_data, path) is None:
                found.append(FieldViolation("input_data." + ".".join(path), f"is required by step {step.step_id!r}"))
    return found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def render(step: Step, input_data: Mapping[str, Any], outputs: Mapping[str, str]) -> str:
    """The prompt the step's task gets."""
    if not step.prompt_template.strip():
        if step.depends_on:
            return "\n\n".join(outputs.get(d, "") for d in step.depends_on)
        prompt = input_data.get("prompt")
        if isinstance(prompt, str) and prompt:
            return prompt
        return json.dumps(dict(input_data), ensure_ascii=False, sort_keys=True)

    def substitute(match: re.Match[str]) -> str:
        reference = match.group(1)
        path = input_path(reference)
        if path is not None:
            value = lookup(input_data, path)
            return "" if value is None else _text(value)
        source = step_reference(reference)
        return outputs.get(source or "", "")

    return _PLACEHOLDER.sub(substitute, step.prompt_template)
