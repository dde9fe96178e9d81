"""Running the bot's commands for the chat: BotAdminService.InvokeBotCommand's work.

The speech unit's chat sends a message that starts with the command prefix
here, acting for its user under its service token; the user's role (from the
metadata the service vouches for) decides, ranked user < moderator < admin <
superuser. The command is looked up by name whatever its case, and it is
counted in the same conditional write that checks it is enabled and allowed,
so invocation_count is exactly the accepted uses however many replicas and
chats run at once. Then:
- reply: its response_text is the answer;
- prompt: its prompt_template with {{args}} filled in (appended when the
  template has no {{args}}) is what the chat sends to the model;
- webhook: the arguments are POSTed as JSON to webhook_url through the
  integrations' HTTP client (services.admin.webhooks: the address guard of
  services.admin.targets, no redirects, `integrations.timeout_seconds`), and the
  answer's text ("text" or "response" of a JSON object, else the body) is the
  reply, cut to MAX_REPLY characters.
A built-in help, unless a stored command is named help, lists the enabled
commands the user may run. Whatever stops a command (unknown, disabled, above
the role, a failed webhook) is an error message the chat shows as the bot's
turn: the user made no mistake the RPC should fail for.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from agentmesh.v1 import admin_pb2

from services.admin.config_store import ConfigDocuments
from services.admin.targets import url_problem
from services.admin.webhooks import WebhookSender, blocked_cause
from services.common.authctx import Caller
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.storage import Database, Row

log = logging.getLogger("agentmesh.admin.bot")

# Roles in rising order: a command's required_role is the lowest that may run it.
RANKS: Mapping[str, int] = {"user": 0, "moderator": 1, "admin": 2, "superuser": 3}
HELP = "help"
MAX_ARGS = 100_000
MAX_REPLY = 4000  # as long as a reply command's response_text may be
MAX_ANSWER_BYTES = 64 * 1024  # read of a webhook's answer, enough for a JSON body around MAX_REPLY characters
DEADLINE_MARGIN = 0.5  # seconds left to answer the chat after a webhook that used up the time
_ARGS = re.compile(r"\{\{\s*args\s*\}\}")


def allowed_roles(role: str) -> list[str]:
    """The required_role values a user of `role` satisfies (roles outside RANKS count as user)."""
    rank = RANKS.get(role, 0)
    return [name for name, level in RANKS.items() if level <= rank]


def rendered(template: str, args: str) -> str:
    """The prompt of a prompt command: {{args}} replaced, or the arguments after the template."""
    if _ARGS.search(template):
        return _ARGS.sub(lambda _: args, template)
    return f"{template}\n\n{args}" if args else template


def answer_text(body: bytes, content_type: str) -> str:
    """What a webhook answered: a JSON object's "text" or "response", else the body as text."""
    text = body.decode("utf-8", "replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("text", "response"):
                value = data.get(key)
                if isinstance(value, str):
                    return value.strip()
    return text


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REPLY else text[:MAX_REPLY - 1] + "…"


def _line(row: Row) -> str:
    usage = row["usage"].strip()
    head = usage if usage.startswith("/") else f"/{row['name']} {usage}".rstrip()
    return f"{head} — {row['description']}" if row["description"] else head


class CommandRunner:
    """Resolves, checks, counts and runs a command; the integrations' sender carries webhook calls."""

    def __init__(self, db: Database, configs: ConfigDocuments, sender: WebhookSender) -> None:
        self.db = db
        self.configs = configs
        self.sender = sender

    async def invoke(self, request: admin_pb2.InvokeBotCommandRequest, caller: Caller,
                     time_left: float | None) -> admin_pb2.InvokeBotCommandResponse:
        """Run the command for the user a unit acts for; refusals are answers, so the chat can show them."""
        if not caller.via_service:
            raise PermissionDenied("bot commands run for a user: call with a service token and the user's x-user-*"
                                   " metadata", reason="USER_REQUIRED")
        name, args = request.name.strip().removeprefix("/"), request.args.strip()
        if not name:
            raise InvalidArgument.field("name", "is required")
        if len(args) > MAX_ARGS:
            raise InvalidArgument.field("args", f"at most {MAX_ARGS} characters")
        roles = allowed_roles(caller.role)
        marks = ", ".join("?" for _ in roles)
        row = await self.db.fetch_one(
            "UPDATE bot_commands SET invocation_count = invocation_count + 1 WHERE name_key = ? AND enabled = 1"
            f" AND required_role IN ({marks}) RETURNING *", (name.lower(), *roles))
        if row is None:
            return await self._refused(name, roles)
        count = int(row["invocation_count"])
        command = f"/{row['name']}"
        if row["action"] == "reply":
            return admin_pb2.InvokeBotCommandResponse(found=True, accepted=True, action="reply",
                                                      reply_text=row["response_text"], invocation_count=count)
        if row["action"] == "prompt":
            return admin_pb2.InvokeBotCommandResponse(found=True, accepted=True, action="prompt",
                                                      prompt=rendered(row["prompt_template"], args),
                                                      invocation_count=count)
        reply, problem = await self._call(row, args, request.conversation_id.strip(), caller, time_left)
        answer = admin_pb2.InvokeBotCommandResponse(found=True, accepted=True, action=row["action"],
                                                    invocation_count=count)
        if problem:
            log.warning("bot command webhook failed", extra={"command": row["name"], "command_id": row["command_id"],
                                                             "error": problem})
            answer.error_message = f"The command {command} failed: {problem}."
        else:
            answer.reply_text = reply or f"The command {command} ran; its webhook sent no text back."
        return answer

    async def _refused(self, name: str, roles: list[str]) -> admin_pb2.InvokeBotCommandResponse:
        """Why the command did not run (or the built-in help, when no stored command is named help)."""
        row = await self.db.fetch_one("SELECT name, enabled, required_role FROM bot_commands WHERE name_key = ?",
                                      (name.lower(),))
        if row is None and name.lower() == HELP:
            return admin_pb2.InvokeBotCommandResponse(found=True, accepted=True, action=HELP,
                                                      reply_text=await self._help(roles))
        if row is None:
            return admin_pb2.InvokeBotCommandResponse(
                error_message=f"Unknown command /{name}. Send /help to see the commands you can use.")
        command = f"/{row['name']}"
        if not row["enabled"]:
            message = f"The command {command} is disabled."
        elif row["required_role"] not in roles:
            message = f"The command {command} needs the {row['required_role']} role."
        else:  # enabled or allowed a moment after the conditional write looked
            message = f"The command {command} was changed just now; send it again."
        return admin_pb2.InvokeBotCommandResponse(found=True, error_message=message)

    async def _help(self, roles: list[str]) -> str:
        marks = ", ".join("?" for _ in roles)
        rows = await self.db.fetch_all(
            f"SELECT name, description, usage FROM bot_commands WHERE enabled = 1 AND required_role IN ({marks})"
            " ORDER BY name_key", roles)
        lines = ["Commands you can use:", "/help — lists the commands you can use",
                 *(_line(row) for row in rows)]
        return "\n".join(lines)

    async def _call(self, row: Row, args: str, conversation_id: str, caller: Caller,
                    time_left: float | None) -> tuple[str, str]:
        """(the webhook's answer, '') or ('', what went wrong, without the URL, which may carry a secret)."""
        config = await self.configs.effective("system")
        allow_private = bool(config["integrations.allow_private_networks"])
        url = row["webhook_url"]
        if url_problem(url, "webhook", allow_private):
            return "", "its webhook address is not allowed"
        timeout = float(config["integrations.timeout_seconds"])
        if time_left is not None:
            timeout = max(0.001, min(timeout, time_left - DEADLINE_MARGIN))
        payload: dict[str, Any] = {
            "command": row["name"], "args": args, "user_id": caller.user_id, "tenant_id": caller.tenant_id,
            "role": caller.role, "conversation_id": conversation_id, "request_id": caller.request_id,
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        # identity: the sender's client does not decompress (a small answer must not inflate into a big one)
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity",
                   "X-AgentMesh-Event": "bot.command", "X-AgentMesh-Timestamp": str(int(time.time()))}
        self.sender.resolver.allow_private = allow_private  # the same setting the sender applies to its own posts
        session = self.sender.session
        try:
            async with session.post(url, data=json.dumps(payload).encode(), headers=headers, allow_redirects=False,
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
                body = await answer.content.read(MAX_ANSWER_BYTES)
                code, content_type = answer.status, answer.headers.get("Content-Type", "")
        except TimeoutError:
            return "", f"its webhook did not answer within {timeout:g}s"
        except (aiohttp.ClientError, OSError) as exc:
            if blocked_cause(exc) is not None:
                return "", "its webhook address is not allowed"
            return "", "its webhook could not be reached"
        if not 200 <= code < 300:
            return "", f"its webhook answered HTTP {code}"
        return _cut(answer_text(body, content_type)), ""
