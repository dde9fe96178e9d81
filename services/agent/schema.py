"""The agent unit's tables. Times are Unix seconds (REAL); ids are prefixed random hex.

Agent types (`agent_definitions`) are global; agents and teams belong to one
tenant. An agent names its type by the definition's immutable `name`, which is
why a definition that agents still use cannot be deleted. Provider keys are
kept sealed (AES-GCM, see services.common.crypto), never in plain text.

Migration 2 seeds the built-in types, so that seed 001's `"type": "openai"`
works on a fresh install: `openai` (an OpenAI-compatible chat model), `echo`
(the platform's deterministic development provider) and `custom` (any
provider, free-form parameters; the type of agents created without one).
"""

from __future__ import annotations

import json
from typing import Any

from services.common.storage import Migration

_NOW = "((julianday('now') - 2440587.5) * 86400.0)"

_SAMPLING: dict[str, Any] = {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2, "description": "sampling temperature"},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 128000, "description": "longest answer, in tokens"},
}

BUILTIN_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "definition_id": "def_builtin_openai",
        "name": "openai",
        "display_name": "OpenAI chat agent",
        "description": "A chat model behind an OpenAI-compatible API (OpenAI, vLLM, Ollama, llama.cpp server).",
        "default_provider": "openai",
        "default_model": "gpt-3.5-turbo",
        "parameter_schema": {
            "type": "object",
            "properties": {
                **_SAMPLING,
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
                "stop": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "capabilities": ["chat", "tools"],
    },
    {
        "definition_id": "def_builtin_echo",
        "name": "echo",
        "display_name": "Echo agent (development)",
        "description": "Answers with the platform's deterministic echo provider; for development and tests.",
        "default_provider": "echo",
        "default_model": "",
        "parameter_schema": {"type": "object", "properties": dict(_SAMPLING), "additionalProperties": False},
        "capabilities": ["chat"],
    },
    {
        "definition_id": "def_builtin_custom",
        "name": "custom",
        "display_name": "Custom agent",
        "description": "Any provider and model; parameters are passed to the provider as given.",
        "default_provider": "",
        "default_model": "",
        "parameter_schema": {"type": "object", "properties": dict(_SAMPLING)},
        "capabilities": ["chat"],
    },
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _builtin_inserts() -> str:
    rows = []
    for d in BUILTIN_DEFINITIONS:
        values = [
            _quote(d["definition_id"]), _quote(d["name"]), _quote(d["display_name"]), _quote(d["description"]),
            _quote(d["default_provider"]), _quote(d["default_model"]),
            _quote(json.dumps(d["parameter_schema"], sort_keys=True)), _quote(json.dumps(d["capabilities"])),
            "1", _NOW, _NOW,
        ]
        rows.append(
            "INSERT INTO agent_definitions (definition_id, name, display_name, description, default_provider,"
            " default_model, parameter_schema, capabilities, enabled, created_at, updated_at) VALUES ("
            + ", ".join(values) + ");"
        )
    return "\n".join(rows)


MIGRATIONS = (
    Migration(
        1,
        "agent definitions agents teams",
        """
        CREATE TABLE agent_definitions (
            definition_id    TEXT PRIMARY KEY,
            name             TEXT NOT NULL UNIQUE,
            display_name     TEXT NOT NULL DEFAULT '',
            description      TEXT NOT NULL DEFAULT '',
            default_provider TEXT NOT NULL DEFAULT '',
            default_model    TEXT NOT NULL DEFAULT '',
            parameter_schema TEXT NOT NULL DEFAULT '{}',
            capabilities     TEXT NOT NULL DEFAULT '[]',
            enabled          INTEGER NOT NULL DEFAULT 1,
            created_at       REAL NOT NULL,
            updated_at       REAL NOT NULL
        );

        CREATE TABLE agents (
            agent_id       TEXT PRIMARY KEY,
            tenant_id      TEXT NOT NULL,
            owner_id       TEXT NOT NULL,
            name           TEXT NOT NULL,
            description    TEXT NOT NULL DEFAULT '',
            type           TEXT NOT NULL,
            provider       TEXT NOT NULL DEFAULT '',
            model          TEXT NOT NULL DEFAULT '',
            system_prompt  TEXT NOT NULL DEFAULT '',
            parameters     TEXT NOT NULL DEFAULT '{}',
            tools          TEXT NOT NULL DEFAULT '[]',
            -- AES-GCM sealed provider key (services.common.crypto); NULL when none is stored.
            api_key_sealed TEXT,
            status         TEXT NOT NULL DEFAULT 'created'
                CHECK (status IN ('created', 'starting', 'running', 'stopping', 'stopped', 'error')),
            status_message TEXT NOT NULL DEFAULT '',
            created_at     REAL NOT NULL,
            updated_at     REAL NOT NULL,
            started_at     REAL
        );
        CREATE INDEX agents_tenant ON agents (tenant_id, created_at);
        CREATE INDEX agents_type ON agents (type);

        CREATE TABLE teams (
            team_id     TEXT PRIMARY KEY,
            tenant_id   TEXT NOT NULL,
            owner_id    TEXT NOT NULL,
            name        TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            strategy    TEXT NOT NULL DEFAULT 'sequential'
                CHECK (strategy IN ('sequential', 'round_robin', 'first_answer')),
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE INDEX teams_tenant ON teams (tenant_id, created_at);

        -- Positions run 0..n-1 within a team; removals renumber the rest.
        CREATE TABLE team_members (
            team_id  TEXT NOT NULL REFERENCES teams (team_id) ON DELETE CASCADE,
            agent_id TEXT NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
            role     TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('lead', 'member')),
            position INTEGER NOT NULL,
            added_at REAL NOT NULL,
            PRIMARY KEY (team_id, agent_id)
        );
        CREATE INDEX team_members_agent ON team_members (agent_id);
        """,
    ),
    Migration(2, "built-in agent definitions", _builtin_inserts()),
)
