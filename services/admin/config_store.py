"""Versioned configuration documents: the system configuration and the chat bot's (scopes system, bot).

A document is a flat map of keys (lower-case, dotted: "logs.retention_days")
to JSON values. An update names the keys it sets (a null value removes a key,
which then reads as its default); with an update_mask exactly the named keys
change, and a named key absent from `config` is removed. Every update that
changes something is stored as a new version: the document as set, the keys
changed, the reason, who and when (ListConfigHistory). An update that changes
nothing stores nothing and answers the current version. `expected_version`
makes an update conditional: ABORTED when another version was written first.
Bad keys or values refuse the whole update with one `config.<key>` violation
each; nothing is written.

Readers (GetSystemConfig, GetBotConfig, and the admin unit's own code through
:meth:`ConfigDocuments.effective`) see the effective document: the defaults of
the known keys (services.admin.config_keys) overlaid with the keys set. A
change of the system document is announced as `system.config.updated` (scope,
version, changed keys, who; never the values), addressed to platform-wide
watchers only.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentmesh.v1 import common_pb2

from services.admin import config_keys
from services.common import crud
from services.common.authctx import Caller
from services.common.errors import Aborted, FieldViolation, InvalidArgument, raise_if
from services.common.events import EventBus, EventBusUnavailable
from services.common.listing import filter_sql, order_sql, snake
from services.common.storage import Database, Row
from services.common.trail import ADMIN_PRINCIPAL

CONFIG_UPDATED = "system.config.updated"
MAX_REASON = 500
CACHE_SECONDS = 2.0
HISTORY_COLUMNS: Mapping[str, str] = {
    "version": "version", "updated_by": "updated_by", "reason": "reason", "created_at": "created_at",
}
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class Version:
    """One stored version (version 0: nothing was ever set)."""

    scope: str
    version: int
    config: dict[str, Any]
    changed_keys: list[str]
    reason: str
    updated_by: str
    created_at: float | None

    @property
    def effective(self) -> dict[str, Any]:
        return {**config_keys.defaults(self.scope), **self.config}


def _version(row: Row) -> Version:
    return Version(row["scope"], int(row["version"]), json.loads(row["config"]), json.loads(row["changed_keys"]),
                   row["reason"], row["updated_by"], row["created_at"])


def check_scope(field: str, scope: str) -> str:
    scope = scope.strip() or "system"
    if scope not in config_keys.SCOPES:
        raise InvalidArgument.field(field, f"one of {', '.join(config_keys.SCOPES)}")
    return scope


def changes_of(scope: str, sent: Mapping[str, Any], mask: list[str]) -> dict[str, Any]:
    """The keys an update sets (None: removed), checked; INVALID_ARGUMENT names every bad one."""
    if mask:
        found = [FieldViolation("update_mask", f"{path!r}: {config_keys.key_problem(scope, path)}")
                 for path in mask if config_keys.key_problem(scope, path)]
        found += [FieldViolation(f"config.{key}", "not named in update_mask") for key in sent if key not in mask]
        raise_if(found)
        changes = {key: sent.get(key) for key in mask}
    else:
        changes = dict(sent)
    if not changes:
        raise InvalidArgument.field("config", "name at least one key to set (a null value removes a key)")
    raise_if(config_keys.value_problems(scope, changes))
    return config_keys.normalized(scope, changes)


class ConfigDocuments:
    """The config_versions table, the effective documents and their announcement."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus
        self._cache: dict[str, tuple[float, Version]] = {}

    async def current(self, scope: str) -> Version:
        row = await self.db.fetch_one(
            "SELECT * FROM config_versions WHERE scope = ? ORDER BY version DESC LIMIT 1", (scope,))
        version = _version(row) if row else Version(scope, 0, {}, [], "", "", None)
        self._cache[scope] = (time.monotonic(), version)
        return version

    async def effective(self, scope: str) -> dict[str, Any]:
        """The effective document, read at most every CACHE_SECONDS (for the unit's own frequent readers)."""
        cached = self._cache.get(scope)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1].effective
        return (await self.current(scope)).effective

    async def update(self, scope: str, changes: Mapping[str, Any], *, caller: Caller, reason: str,
                     expected_version: int | None) -> tuple[Version, bool]:
        """Store the document with the changes as a new version; (the current version, whether it is new)."""
        if len(reason) > MAX_REASON:
            raise InvalidArgument.field("reason", f"at most {MAX_REASON} characters")
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT * FROM config_versions WHERE scope = ? ORDER BY version DESC LIMIT 1", (scope,))
            current = _version(row) if row else Version(scope, 0, {}, [], "", "", None)
            if expected_version is not None and expected_version != current.version:
                raise Aborted(
                    f"the {scope} configuration is at version {current.version}, not {expected_version}; "
                    "read it again and repeat the change", reason="CONFIG_VERSION_MISMATCH",
                    metadata={"current_version": str(current.version)})
            document = {**current.config, **{k: v for k, v in changes.items() if v is not None}}
            for key in (k for k, v in changes.items() if v is None):
                document.pop(key, None)
            self._check_document(scope, document)
            changed = sorted(k for k in set(document) | set(current.config)
                             if document.get(k, _ABSENT) != current.config.get(k, _ABSENT))
            if not changed:
                return current, False
            now = time.time()
            await tx.execute(
                "INSERT INTO config_versions (scope, version, config, changed_keys, reason, updated_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope, current.version + 1, json.dumps(document), json.dumps(changed), reason.strip(),
                 caller.user_id, now))
        stored = Version(scope, current.version + 1, document, changed, reason.strip(), caller.user_id, now)
        self._cache[scope] = (time.monotonic(), stored)
        await self._announce(stored)
        return stored, True

    @staticmethod
    def _check_document(scope: str, document: Mapping[str, Any]) -> None:
        found = config_keys.document_problems(scope, {**config_keys.defaults(scope), **document})
        if len(document) > config_keys.MAX_KEYS:
            found.append(FieldViolation("config", f"at most {config_keys.MAX_KEYS} keys"))
        size = len(json.dumps(document))
        if size > config_keys.MAX_DOCUMENT_BYTES:
            found.append(FieldViolation("config", f"at most {config_keys.MAX_DOCUMENT_BYTES} bytes as JSON "
                                                  f"({size} with this change)"))
        raise_if(found)

    async def _announce(self, version: Version) -> None:
        event = common_pb2.Event(type=CONFIG_UPDATED, user_id=ADMIN_PRINCIPAL, subject_id=version.scope)
        event.data.update({"scope": version.scope, "version": version.version,
                           "changed_keys": list(version.changed_keys), "updated_by": version.updated_by})
        with contextlib.suppress(EventBusUnavailable):  # the version is the record; watchers read it again
            await self.bus.publish(event)

    async def history(self, scope: str, request: Any) -> tuple[list[Version], int, str]:
        """A page of versions, newest first unless order_by says otherwise."""
        where, params = ["scope = ?"], [scope]
        if request.HasField("since"):
            where.append("created_at >= ?")
            params.append(request.since.seconds + request.since.nanos / 1e9)
        clauses, values = filter_sql(request.filter, HISTORY_COLUMNS, _typed)
        where += clauses
        params += values
        order = order_sql(request.order_by, HISTORY_COLUMNS, "version DESC", "version DESC")
        rows, total, token = await crud.page(self.db, "config_versions", where, params, order, request, default=50,
                                             maximum=500)
        return [_version(row) for row in rows], total, token


def _typed(name: str, column: str, text: str) -> Any:
    if snake(name) == "version":
        if not text.lstrip("-").isdigit():
            raise InvalidArgument.field("filter", f"version compares with a whole number, not {text!r}")
        return int(text)
    if snake(name) == "created_at":
        raise InvalidArgument.field("filter", "use since for times")
    return text
