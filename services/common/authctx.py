"""The caller of the current RPC, as a context variable.

The edge forwards the verified principal as `x-user-*` metadata with the
original token; the caller-context interceptor reads it into a :class:`Caller`
that servicers, stores and logs see through :func:`current`.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

METADATA_KEYS = (
    "x-user-id",
    "x-client-id",
    "x-user-role",
    "x-user-tier",
    "x-user-email",
    "x-user-permissions",
    "x-request-id",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: user, tenant (= organization = client), role, tier, permissions."""

    user_id: str = ""
    tenant_id: str = ""
    role: str = ""
    tier: str = ""
    email: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    token: str = ""
    # The sign-in session of the token (its sid claim), when the caller used one.
    session_id: str = ""
    # The API key the edge verified, when the caller used one instead of a token.
    api_key_id: str = ""
    # The caller's network address as the edge saw it (x-forwarded-for), else the peer.
    address: str = ""

    @property
    def authenticated(self) -> bool:
        return bool(self.user_id)

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "superuser")

    def metadata(self) -> list[tuple[str, str]]:
        """Metadata that carries this caller to another unit."""
        pairs = [
            ("x-user-id", self.user_id),
            ("x-client-id", self.tenant_id),
            ("x-user-role", self.role),
            ("x-user-tier", self.tier),
            ("x-user-email", self.email),
            ("x-user-permissions", ",".join(sorted(self.permissions))),
            ("x-request-id", self.request_id),
        ]
        if self.token:
            pairs.append(("authorization", f"Bearer {self.token}"))
        return [(k, v) for k, v in pairs if v]


ANONYMOUS = Caller()
_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("agentmesh_caller", default=ANONYMOUS)


def from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller:
    """Read the caller from invocation metadata; a request id is made when none came."""
    values: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            values[key] = value
    raw = values.get("authorization", "")
    token = raw[7:].strip() if raw[:7].lower() == "bearer " else ""
    permissions = frozenset(p.strip() for p in values.get("x-user-permissions", "").split(",") if p.strip())
    return Caller(
        user_id=values.get("x-user-id", ""),
        tenant_id=values.get("x-client-id", ""),
        role=values.get("x-user-role", ""),
        tier=values.get("x-user-tier", ""),
        email=values.get("x-user-email", ""),
        permissions=permissions,
        request_id=values.get("x-request-id", "") or uuid.uuid4().hex,
        token=token,
    )


def current() -> Caller:
    return _current.get()


def bind(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def reset(token: contextvars.Token[Caller]) -> None:
    _current.reset(token)
