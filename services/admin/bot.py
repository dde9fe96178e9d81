"""BotAdminService: the chat bot's configuration, status, statistics and slash commands (seed 003 /admin/bot).

The bot is the speech unit's chat (seed 003's /chat and /ws/{user_id}).
- Configuration: the versioned document of scope "bot" (services.admin.
  config_store; keys in services.admin.config_keys), history through
  ListConfigHistory with scope=bot.
- Status: the speech unit's ChatService and its dependencies (stt, tts: its
  SpeechService; llm: its LlmService) asked over grpc.health.v1 at once;
  "maintenance" while maintenance mode is on, "offline" when the chat does not
  answer or the configuration's `enabled` is false, "degraded" when a
  dependency does not, else "online". Sessions and users "connected" are the
  conversations and users with a turn in the last ACTIVE_SECONDS (the edge
  does not report open sockets to the units).
- Statistics: counted from the chat turns the hub announced (chat.completed)
  and the chat answers that failed (llm.failed of kind chat); a turn is a
  user's message and its reply. Languages are counted when the turn names one.
- Commands: names unique whatever their case; the fields an action needs are
  required (reply: response_text, prompt: prompt_template, webhook: an http(s)
  webhook_url); every problem is a field violation and nothing is written.
  The chat runs them through InvokeBotCommand (services.admin.bot_commands),
  which counts each accepted use in invocation_count.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import grpc
from agentmesh.v1 import admin_pb2

from services.admin.bot_commands import CommandRunner
from services.admin.config_store import ConfigDocuments, changes_of
from services.admin.monitor import PARTS, VERSION, Monitor, now_stamp, status_message
from services.admin.sampler import MetricsSampler
from services.common import authctx, trail
from services.common.crud import changed_fields, required_id
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    raise_if,
)
from services.common.listing import filter_sql, order_sql
from services.common.paging import page_of
from services.common.protoutil import new_id, struct, struct_dict, timestamp
from services.common.storage import Database, Row

ACTIONS = ("reply", "prompt", "webhook")
ROLES = ("user", "moderator", "admin")
MAX_COMMANDS = 200
ACTIVE_SECONDS = 300
DEFAULT_DAYS = 30
_LIMITS = {"description": 500, "response_text": 4000, "prompt_template": 8000, "webhook_url": 2048, "usage": 200}
_UPDATABLE = ("name", "description", "action", "response_text", "prompt_template", "webhook_url", "usage",
              "enabled", "required_role")
COLUMNS: Mapping[str, str] = {name: name for name in ("command_id", "name", "description", "action", "usage",
                                                     "enabled", "required_role", "created_by", "invocation_count",
                                                     "created_at", "updated_at")}


def _name_problem(name: str) -> str:
    if not name or len(name) > 32 or not name[0].isalpha() or not all(c.isalnum() or c in "_-" for c in name) \
            or not name.isascii():
        return "1 to 32 letters, digits, '_' or '-', starting with a letter, without the slash"
    return ""


def command_problems(values: Mapping[str, Any]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    problem = _name_problem(values["name"])
    if problem:
        found.append(FieldViolation("name", problem))
    if values["action"] not in ACTIONS:
        found.append(FieldViolation("action", f"one of {', '.join(ACTIONS)}"))
    if values["required_role"] not in ROLES:
        found.append(FieldViolation("required_role", f"one of {', '.join(ROLES)}"))
    for name, limit in _LIMITS.items():
        if len(values[name]) > limit:
            found.append(FieldViolation(name, f"at most {limit} characters"))
    needed = {"reply": "response_text", "prompt": "prompt_template", "webhook": "webhook_url"}.get(values["action"])
    if needed and not values[needed].strip():
        found.append(FieldViolation(needed, f"is required for action {values['action']}"))
    url = values["webhook_url"]
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(FieldViolation("webhook_url", "an http or https URL"))
    return found


def command_message(row: Row) -> admin_pb2.BotCommand:
    return admin_pb2.BotCommand(
        command_id=row["command_id"], name=row["name"], description=row["description"], action=row["action"],
        response_text=row["response_text"], prompt_template=row["prompt_template"], webhook_url=row["webhook_url"],
        usage=row["usage"], enabled=bool(row["enabled"]), required_role=row["required_role"],
        created_by=row["created_by"], invocation_count=int(row["invocation_count"]),
        created_at=timestamp(row["created_at"]), updated_at=timestamp(row["updated_at"]),
    )


def _when(field: str, text: str, default: float) -> float:
    """An ISO 8601 date or date-time (UTC unless it says otherwise) as Unix seconds."""
    text = text.strip()
    if not text:
        return default
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidArgument.field(field, "an ISO 8601 date or date-time, such as 2026-01-31 or "
                                           "2026-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class BotAdminServicer:
    """agentmesh.v1.BotAdminService."""

    def __init__(self, db: Database, configs: ConfigDocuments, monitor: Monitor, sampler: MetricsSampler,
                 commands: CommandRunner) -> None:
        self.db = db
        self.configs = configs
        self.monitor = monitor
        self.sampler = sampler
        self.commands = commands

    async def GetBotConfig(self, request: admin_pb2.GetBotConfigRequest, context: grpc.aio.ServicerContext) -> Any:
        version = await self.configs.current("bot")
        return admin_pb2.GetBotConfigResponse(config=struct(version.effective), version=version.version,
                                              updated_at=timestamp(version.created_at), updated_by=version.updated_by)

    async def UpdateBotConfig(self, request: admin_pb2.UpdateBotConfigRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        trail.note(resource_type="config", resource_id="bot")
        changes = changes_of("bot", struct_dict(request.config), list(request.update_mask.paths))
        version, _ = await self.configs.update(
            "bot", changes, caller=authctx.current(), reason=request.reason,
            expected_version=request.expected_version if request.HasField("expected_version") else None)
        return admin_pb2.UpdateBotConfigResponse(config=struct(version.effective), version=version.version,
                                                 updated_at=timestamp(version.created_at),
                                                 updated_by=version.updated_by)

    async def GetBotStatus(self, request: admin_pb2.GetBotStatusRequest, context: grpc.aio.ServicerContext) -> Any:
        config = await self.configs.effective("system")
        timeout = float(config["monitoring.probe_timeout_seconds"])
        checked = now_stamp()
        probes = asyncio.gather(self.monitor.unit("speech", "agentmesh.v1.ChatService", timeout),
                                *(self.monitor.unit(unit, service, timeout) for unit, service in PARTS.values()))
        (chat, *deps), _ = await asyncio.gather(probes, self.sampler.refresh())
        dependencies = {name: status_message(name, probe, self.monitor, checked)
                        for name, probe in zip(PARTS, deps, strict=True)}
        maintenance = await self.db.fetch_one("SELECT enabled FROM maintenance WHERE id = 1")
        enabled = bool((await self.configs.effective("bot"))["enabled"])
        healthy = chat.healthy and all(d.healthy for d in dependencies.values())
        if maintenance is not None and maintenance["enabled"]:
            status = "maintenance"
        elif not chat.healthy or not enabled:
            status = "offline"
        else:
            status = "online" if healthy else "degraded"
        since = time.time() - ACTIVE_SECONDS
        row = await self.db.fetch_one(
            "SELECT (SELECT COUNT(DISTINCT conversation_id) FROM chat_turns WHERE at >= ? AND failed = 0) AS sessions,"
            " (SELECT COUNT(DISTINCT user_id) FROM chat_turns WHERE at >= ?) AS users,"
            " (SELECT MAX(at) FROM chat_turns) AS last", (since, since))
        assert row is not None
        return admin_pb2.GetBotStatusResponse(
            status=status, healthy=healthy, uptime=self.sampler.uptime("speech") if chat.healthy else 0,
            version=VERSION,
            active_sessions=int(row["sessions"]), connected_users=int(row["users"]),
            last_activity_at=timestamp(row["last"]), dependencies=dependencies)

    async def GetBotStats(self, request: admin_pb2.GetBotStatsRequest, context: grpc.aio.ServicerContext) -> Any:
        now = time.time()
        end = _when("end_date", request.end_date, now)
        start = _when("start_date", request.start_date, end - DEFAULT_DAYS * 86400)
        if start >= end:
            raise InvalidArgument.field("start_date", "must be before end_date")
        window = (start, end)
        row = await self.db.fetch_one(
            "SELECT COALESCE(SUM(CASE WHEN failed = 0 THEN 1 ELSE 0 END), 0) AS turns,"
            " COALESCE(SUM(CASE WHEN failed = 0 AND type = 'text' THEN 1 ELSE 0 END), 0) AS text,"
            " COALESCE(SUM(CASE WHEN failed = 0 AND type = 'audio' THEN 1 ELSE 0 END), 0) AS audio,"
            " COALESCE(SUM(failed), 0) AS errors,"
            " COUNT(DISTINCT CASE WHEN failed = 0 AND conversation_id != '' THEN conversation_id END) AS chats,"
            " COUNT(DISTINCT user_id) AS users, AVG(CASE WHEN failed = 0 THEN response_time_ms END) AS response"
            " FROM chat_turns WHERE at >= ? AND at < ?", window)
        assert row is not None
        languages = await self.db.fetch_all(
            "SELECT language, COUNT(*) AS n FROM chat_turns WHERE at >= ? AND at < ? AND failed = 0"
            " AND language != '' GROUP BY language", window)
        commands = await self.db.fetch_all("SELECT name, invocation_count FROM bot_commands")
        return admin_pb2.GetBotStatsResponse(
            total_conversations=int(row["chats"]), total_messages=2 * int(row["turns"]),
            text_messages=int(row["text"]), audio_messages=int(row["audio"]), active_users=int(row["users"]),
            average_response_time=round((row["response"] or 0.0) / 1000, 4), error_count=int(row["errors"]),
            command_usage={c["name"]: int(c["invocation_count"]) for c in commands},
            languages={r["language"]: int(r["n"]) for r in languages})

    async def ListBotCommands(self, request: admin_pb2.ListBotCommandsRequest,
                              context: grpc.aio.ServicerContext) -> Any:
        where, params = [], []
        if request.HasField("enabled"):
            where.append("enabled = ?")
            params.append(int(request.enabled))
        clauses, values = filter_sql(request.filter, COLUMNS)
        where += clauses
        params += values
        order = order_sql(request.order_by, {**COLUMNS, "name": "name_key"}, "name_key ASC", "command_id ASC")
        window = page_of(request, default=100, maximum=500)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        counted = await self.db.fetch_one(f"SELECT COUNT(*) AS n FROM bot_commands{clause}", params)
        total = int(counted["n"]) if counted else 0
        rows = await self.db.fetch_all(f"SELECT * FROM bot_commands{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                                       [*params, window.limit, window.offset])
        return admin_pb2.ListBotCommandsResponse(commands=[command_message(r) for r in rows],
                                                 next_page_token=window.next_token(total), total_size=total)

    async def CreateBotCommand(self, request: admin_pb2.CreateBotCommandRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        values: dict[str, Any] = {
            "name": request.name.strip().removeprefix("/"), "action": request.action.strip() or "reply",
            "required_role": request.required_role.strip() or "user",
            "enabled": request.enabled if request.HasField("enabled") else True,
            **{name: getattr(request, name).strip() for name in _LIMITS},
        }
        raise_if(command_problems(values))
        now = time.time()
        row: Row = {"command_id": new_id("cmd"), **values, "name_key": values["name"].lower(),
                    "enabled": int(values["enabled"]), "created_by": authctx.current().user_id,
                    "invocation_count": 0, "created_at": now, "updated_at": now}
        async with self.db.transaction() as tx:
            counted = await tx.fetch_one("SELECT COUNT(*) AS n FROM bot_commands")
            if counted is not None and counted["n"] >= MAX_COMMANDS:
                raise FailedPrecondition(f"at most {MAX_COMMANDS} bot commands; delete one first",
                                         reason="TOO_MANY_COMMANDS")
            await self._name_free(tx, values["name"])
            await tx.execute(f"INSERT INTO bot_commands ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                             list(row.values()))
        return admin_pb2.CreateBotCommandResponse(command=command_message(row))

    async def UpdateBotCommand(self, request: admin_pb2.UpdateBotCommandRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        command_id = required_id("command_id", request.command_id)
        fields = changed_fields(request, _UPDATABLE)
        async with self.db.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM bot_commands WHERE command_id = ?", (command_id,))
            if row is None:
                raise NotFound(f"bot command {command_id} not found", reason="BOT_COMMAND_NOT_FOUND")
            values = {name: row[name] for name in _UPDATABLE}
            values["enabled"] = bool(values["enabled"])
            for name in fields:
                value = getattr(request, name)
                values[name] = value.strip().removeprefix("/") if name == "name" else \
                    value.strip() if isinstance(value, str) else value
            raise_if(command_problems(values))
            if not fields:
                return admin_pb2.UpdateBotCommandResponse(command=command_message(row))
            if "name" in fields:
                await self._name_free(tx, values["name"], command_id)
            changes = {name: values[name] for name in fields}
            if "enabled" in changes:
                changes["enabled"] = int(changes["enabled"])
            if "name" in changes:
                changes["name_key"] = changes["name"].lower()
            changes["updated_at"] = time.time()
            await tx.execute(f"UPDATE bot_commands SET {', '.join(f'{k} = ?' for k in changes)} WHERE command_id = ?",
                             [*changes.values(), command_id])
            updated = await tx.fetch_one("SELECT * FROM bot_commands WHERE command_id = ?", (command_id,))
        assert updated is not None
        return admin_pb2.UpdateBotCommandResponse(command=command_message(updated))

    async def DeleteBotCommand(self, request: admin_pb2.DeleteBotCommandRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        command_id = required_id("command_id", request.command_id)
        if not await self.db.execute("DELETE FROM bot_commands WHERE command_id = ?", (command_id,)):
            raise NotFound(f"bot command {command_id} not found", reason="BOT_COMMAND_NOT_FOUND")
        return admin_pb2.DeleteBotCommandResponse()

    async def InvokeBotCommand(self, request: admin_pb2.InvokeBotCommandRequest,
                               context: grpc.aio.ServicerContext) -> Any:
        return await self.commands.invoke(request, authctx.current(), context.time_remaining())

    @staticmethod
    async def _name_free(tx: Any, name: str, command_id: str = "") -> None:
        taken = await tx.fetch_one("SELECT command_id FROM bot_commands WHERE name_key = ? AND command_id != ?",
                                   (name.lower(), command_id))
        if taken is not None:
            raise AlreadyExists(f"a bot command named {name!r} already exists", reason="BOT_COMMAND_NAME_TAKEN")
