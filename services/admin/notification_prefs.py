"""Reading an UpdateNotificationPreferencesRequest into new Preferences, and checking them.

Without an update_mask every field present in the request changes (the
optional scalars when set, muted_kinds when non-empty). With one, exactly the
named fields change, and a named field absent from the request goes back to
its default (muted_kinds to none).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import fields, replace
from typing import Any
from urllib.parse import urlsplit

from agentmesh.v1 import admin_pb2

from services.admin.notification_store import DIGESTS, LEVELS, Preferences
from services.common.errors import FieldViolation, InvalidArgument, raise_if

FIELDS = tuple(f.name for f in fields(Preferences) if f.name != "updated_at")
MAX_MUTED = 50
MAX_GLOB = 100
MAX_EMAIL = 254
MAX_URL = 2048
_GLOB = re.compile(r"[a-z0-9_.*?]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DEFAULTS = Preferences()


def _value(request: admin_pb2.UpdateNotificationPreferencesRequest, name: str) -> Any:
    if name == "muted_kinds":
        return tuple(kind.strip() for kind in request.muted_kinds)
    value = getattr(request, name)
    return value.strip() if isinstance(value, str) else value


def updated(current: Preferences, request: admin_pb2.UpdateNotificationPreferencesRequest) -> Preferences:
    """The preferences after the request, checked; bad values are INVALID_ARGUMENT naming every field at fault."""
    changes: dict[str, Any] = {}
    paths = list(request.update_mask.paths)
    if paths:
        for path in paths:
            if path not in FIELDS:
                raise InvalidArgument.field("update_mask", f"unknown field {path!r}; fields: {', '.join(FIELDS)}")
            present = bool(request.muted_kinds) if path == "muted_kinds" else request.HasField(path)
            changes[path] = _value(request, path) if present else getattr(_DEFAULTS, path)
    else:
        for name in FIELDS:
            if (bool(request.muted_kinds) if name == "muted_kinds" else request.HasField(name)):
                changes[name] = _value(request, name)
    prefs = replace(current, **changes)
    raise_if(problems(prefs))
    return prefs


def problems(prefs: Preferences) -> list[FieldViolation]:
    """What is wrong with the preferences, field by field."""
    found: list[FieldViolation] = []
    if prefs.email and (len(prefs.email) > MAX_EMAIL or not _EMAIL.fullmatch(prefs.email)):
        found.append(FieldViolation("email", "an e-mail address such as ada@example.com"))
    if prefs.webhook_url:
        parts = urlsplit(prefs.webhook_url)
        if len(prefs.webhook_url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(FieldViolation("webhook_url", f"an http(s) URL of at most {MAX_URL} characters"))
    elif prefs.webhook_enabled:
        found.append(FieldViolation("webhook_url", "is needed while webhook_enabled is true"))
    if prefs.min_level not in LEVELS:
        found.append(FieldViolation("min_level", f"one of {', '.join(LEVELS)}"))
    if len(prefs.muted_kinds) > MAX_MUTED:
        found.append(FieldViolation("muted_kinds", f"at most {MAX_MUTED} entries"))
    for kind in prefs.muted_kinds:
        if len(kind) > MAX_GLOB or not _GLOB.fullmatch(kind):
            found.append(FieldViolation(
                "muted_kinds", f"{kind!r}: a lower-case type or glob such as task.progress or agent.*"
            ))
    if prefs.digest not in DIGESTS:
        found.append(FieldViolation("digest", f"one of {', '.join(DIGESTS)}"))
    for name in ("quiet_hours_start", "quiet_hours_end"):
        if getattr(prefs, name) and not _CLOCK.fullmatch(getattr(prefs, name)):
            found.append(FieldViolation(name, "a time of day as HH:MM (00:00 to 23:59)"))
    if bool(prefs.quiet_hours_start) != bool(prefs.quiet_hours_end):
        found.append(FieldViolation("quiet_hours_end" if prefs.quiet_hours_start else "quiet_hours_start",
                                    "quiet hours need both a start and an end"))
    if not _known_zone(prefs.timezone):
        found.append(FieldViolation("timezone", "an IANA time zone such as Europe/Berlin"))
    return found


def _known_zone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
