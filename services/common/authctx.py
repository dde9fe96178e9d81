"""The caller of the current RPC, as a context variable.

The caller-context interceptor verifies the credential (services/common/identity.py)
and binds a :class:`Caller` that servicers, stores and logs see through
:func:`current`; :meth:`Caller.metadata` carries it on to another unit.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.common.errors import FailedPrecondition


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
    # The unit whose service token vouches for this user (a call a unit makes for them), if any.
    via_service: str = ""

    @property
    def authenticated(self) -> bool:
        return bool(self.user_id)

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "superuser")

    def metadata(self) -> list[tuple[str, str]]:
        """Metadata that carries this caller to another unit."""
        pairs = user_metadata(self.user_id, self.tenant_id, self.role, self.tier, self.email, self.permissions)
        if self.request_id:
            pairs.append(("x-request-id", self.request_id))
        if self.token:
            pairs.append(("authorization", f"Bearer {self.token}"))
        return pairs


def user_metadata(user_id: str, tenant_id: str, role: str, tier: str, email: str,
                  permissions: Iterable[str]) -> list[tuple[str, str]]:
    """The x-user-* pairs that name a user to another unit (the ones a service token may vouch for)."""
    pairs = [
        ("x-user-id", user_id),
        ("x-client-id", tenant_id),
        ("x-user-role", role),
        ("x-user-tier", tier),
        ("x-user-email", email),
        ("x-user-permissions", ",".join(sorted(permissions))),
    ]
    return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a unit's deferred work acts for, as stored with it (never the user's token, which may expire first)."""

    user_id: str
    tenant_id: str
    role: str = "user"
    tier: str = ""
    email: str = ""
    permissions: tuple[str, ...] = ()

    @classmethod
    def of(cls, caller: Caller) -> Actor:
        role = caller.role if caller.role and caller.role != "service" else "user"
        return cls(caller.user_id, caller.tenant_id, role, caller.tier, caller.email, tuple(sorted(caller.permissions)))

    @classmethod
    def from_json(cls, text: str) -> Actor:
        data = json.loads(text or "{}")
        return cls(
            user_id=str(data.get("user_id", "")),
            tenant_id=str(data.get("tenant_id", "")),
            role=str(data.get("role", "user")),
            tier=str(data.get("tier", "")),
            email=str(data.get("email", "")),
            permissions=tuple(str(p) for p in data.get("permissions", ())),
        )

    def to_json(self) -> str:
        return json.dumps(
            {"user_id": self.user_id, "tenant_id": self.tenant_id, "role": self.role, "tier": self.tier,
             "email": self.email, "permissions": list(self.permissions)},
            separators=(",", ":"),
        )

    def metadata(self) -> list[tuple[str, str]]:
        """The x-user-* pairs a service token vouches for."""
        return user_metadata(self.user_id, self.tenant_id, self.role, self.tier, self.email, self.permissions)


ANONYMOUS = Caller()
_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("agentmesh_caller", default=ANONYMOUS)


def current() -> Caller:
    return _current.get()


def bind(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def reset(token: contextvars.Token[Caller]) -> None:
    _current.reset(token)


def tenant_caller() -> Caller:
    """The caller, who must act in a tenant (what a unit keeps per organization always belongs to one)."""
    caller = current()
    if not caller.tenant_id:
        raise FailedPrecondition("this call needs a current organization; sign in to one first", reason="NO_TENANT")
    return caller
