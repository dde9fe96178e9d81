"""The caller of the current RPC, as a context variable.

The caller-context interceptor verifies the credential (services/common/identity.py)
and binds a :class:`Caller` that servicers, stores and logs see through
:func:`current`; :meth:`Caller.metadata` carries it on to another unit.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field


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


def current() -> Caller:
    return _current.get()


def bind(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def reset(token: contextvars.Token[Caller]) -> None:
    _current.reset(token)
