"""What travels on the bus: event ids, the subscriber's filter, the synthetic notices, the errors.

Event ids have the shape of Redis stream ids, ``<unix ms>-<sequence>`` in
decimal (``1767225600000-0``, ``1767225600000-1``), on both backends. They
order by the pair of integers, never as strings. See the package docstring for
why the two backends share this shape.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentmesh.v1.common_pb2 import Event

from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied, Unavailable

LAGGED = "bus.lagged"
RESERVED_PREFIX = "bus."
# ``dropped`` of a bus.lagged notice when the count is not known (a resume from an expired id).
UNKNOWN_COUNT = -1

EventId = tuple[int, int]
# Events a unit may not publish: the bus's own notices, and notifications (stored by the admin unit's
# NotificationService before it announces them).
HUB_ONLY_PREFIXES = (RESERVED_PREFIX, "notification.")
# Events every unit may publish, whatever its contracts declare: the audit records of its audited calls and
# its warning-and-worse log lines, for the admin unit (services/common/trail.py; admin.proto declares them).
SHARED_PREFIXES = ("audit.", "log.")
_PUBLISHABLE_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


class EventBusUnavailable(Unavailable):
    """The bus cannot take or serve events now (Redis unreachable or slow, or the bus closed)."""

    reason = "EVENT_BUS_UNAVAILABLE"


class InvalidEvent(InvalidArgument, ValueError):
    """An event, an event id or a subscription's arguments the bus refuses."""


def parse_event_id(value: str, *, field_name: str = "since_id") -> EventId:
    """The id as a sortable pair; :class:`InvalidEvent` names ``field_name`` when it is not an event id."""
    matched = _ID.fullmatch(value)
    if matched is None:
        raise InvalidEvent(
            f"{field_name}: not an event id (expected <unix ms>-<sequence>)",
            [FieldViolation(field_name, "not an event id (expected <unix ms>-<sequence>)")],
        )
    return int(matched[1]), int(matched[2])


def format_event_id(key: EventId) -> str:
    return f"{key[0]}-{key[1]}"


class IdClock:
    """Ids for one memory bus: the wall-clock millisecond, then a sequence within it.

    Never goes backwards: when the clock does, the last millisecond is kept and
    the sequence grows, as Redis does for stream ids.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last: EventId = (0, 0)

    def next(self) -> EventId:
        ms = int(self._clock() * 1000)
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return self._last


def prepared(event: Event, source: str, now: Callable[[], float] = time.time) -> Event:
    """A copy of ``event`` ready to store: checked, id cleared, time and source filled in when empty."""
    if not event.type:
        raise InvalidEvent("type: an event needs a type", [FieldViolation("type", "required")])
    if event.type.startswith(RESERVED_PREFIX):
        raise InvalidEvent(
            f"type: {RESERVED_PREFIX}* is reserved for the bus's own notices",
            [FieldViolation("type", f"{RESERVED_PREFIX}* is reserved")],
        )
    stored = Event()
    stored.CopyFrom(event)
    stored.id = ""
    if not stored.HasField("time"):
        stored.time.FromNanoseconds(int(now() * 1e9))
    if not stored.source:
        stored.source = source
    return stored


def type_prefix(event_type: str) -> str:
    """The metrics label of a type: its first dotted segment (``task`` for ``task.progress``)."""
    return event_type.partition(".")[0]


def lagged_notice(dropped: int, *, reason: str, tenant_id: str | None, user_id: str | None) -> Event:
    """The synthetic event a subscriber receives in place of events it lost.

    It has no id (it is never stored, so a client must not resume from it) and
    it is addressed to the subscriber it is given to.
    """
    notice = Event(type=LAGGED, tenant_id=tenant_id or "", user_id=user_id or "", source="bus")
    notice.data.update({"dropped": dropped, "reason": reason})
    notice.time.GetCurrentTime()
    return notice


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events one subscriber may and wants to see.

    Visibility: an event with a tenant_id goes to that tenant's subscribers; one
    without (``system.maintenance``, a platform-wide notification) goes to every
    subscriber; an event with a user_id goes only to that user. ``all_tenants``
    (platform admins) lifts both limits. Interest: glob patterns over the type
    (``fnmatchcase``: ``instance.status.*``, ``task.*``); none means every type.
    """

    patterns: tuple[str, ...] = ()
    tenant_id: str = ""
    user_id: str = ""
    all_tenants: bool = False
    _match: Callable[[str], object] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            if not pattern:
                raise InvalidEvent("patterns: an empty pattern matches nothing", [FieldViolation("patterns", "empty")])
        if self.patterns:
            regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.patterns))
            object.__setattr__(self, "_match", regex.match)

    @classmethod
    def build(
        cls,
        patterns: Sequence[str] | str = (),
        *,
        tenant_id: str | None,
        user_id: str | None = None,
        all_tenants: bool = False,
    ) -> EventFilter:
        if isinstance(patterns, str):
            patterns = (patterns,)
        return cls(tuple(dict.fromkeys(patterns)), tenant_id or "", user_id or "", all_tenants)

    def visible(self, event: Event) -> bool:
        if self.all_tenants:
            return True
        if event.tenant_id and event.tenant_id != self.tenant_id:
            return False
        return not event.user_id or event.user_id == self.user_id

    def accepts(self, event: Event) -> bool:
        if not self.visible(event):
            return False
        return self._match is None or self._match(event.type) is not None


def check_publishable(event: Event, unit: str, allowed: Sequence[str], field: str = "event") -> None:
    """Raise unless `unit`, whose contracts declare the type prefixes `allowed`, may publish `event`:
    InvalidArgument for a type no unit may publish, PermissionDenied for another unit's type."""
    if not _PUBLISHABLE_TYPE.match(event.type):
        raise InvalidArgument.field(f"{field}.type", "a dotted lower-case type such as task.progress")
    if event.type.startswith(HUB_ONLY_PREFIXES):
        raise InvalidArgument.field(f"{field}.type", "bus.* and notification.* are published by the hub itself")
    if event.type.startswith(SHARED_PREFIXES):
        return
    prefixes = tuple(allowed)
    if not prefixes or not event.type.startswith(prefixes):
        raise PermissionDenied(
            f"the {unit} unit publishes {', '.join(p + '*' for p in prefixes) or 'no events'}; not {event.type}",
            reason="EVENT_TYPE_NOT_YOURS",
        )
