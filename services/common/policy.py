"""The policy table: who may call each method, how often, and how the edge answers.

Built once from the `(agentmesh.v1.policy)` method options; the edge, the units'
interceptors and the API documents all read this table, so a role or a limit
is never written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from agentmesh.v1 import options_pb2
from google.protobuf.descriptor import MethodDescriptor

from services.common import contracts

_POLICY_OPTION: Any = options_pb2.policy
ROLES = ("user", "moderator", "admin", "superuser", "service")
# superuser may do what any human role may; service is a separate kind of caller.
_IMPLIED: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "user": frozenset({"user"}),
        "moderator": frozenset({"user", "moderator"}),
        "admin": frozenset({"user", "moderator", "admin"}),
        "superuser": frozenset({"user", "moderator", "admin", "superuser"}),
        "service": frozenset({"service"}),
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    """The decoded `(agentmesh.v1.policy)` option of one method."""

    public: bool = False
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    rate_limit: str = "default"
    success_status: int = 200
    websocket_protocol: str = ""
    maintenance_exempt: bool = False
    audit: bool = False
    rate_limit_fail_closed: bool = False

    def allows_role(self, role: str) -> bool:
        """Whether a principal with this role passes the method's role check."""
        if not self.roles:
            return role in _IMPLIED
        return bool(_IMPLIED.get(role, frozenset()) & self.roles)


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """One RPC with everything the platform derives from its descriptor."""

    full_method: str
    unit: str
    descriptor: MethodDescriptor
    policy: Policy

    @property
    def client_streaming(self) -> bool:
        return bool(self.descriptor.client_streaming)

    @property
    def server_streaming(self) -> bool:
        return bool(self.descriptor.server_streaming)


class PolicyError(ValueError):
    """A contract declares a policy the platform cannot enforce."""


def decode(method: MethodDescriptor) -> Policy:
    options = method.GetOptions()
    if not options.HasExtension(_POLICY_OPTION):
        raise PolicyError(f"{contracts.full_method(method)} has no (agentmesh.v1.policy) option")
    raw: options_pb2.Policy = options.Extensions[_POLICY_OPTION]
    unknown = set(raw.roles) - set(ROLES)
    if unknown:
        raise PolicyError(f"{contracts.full_method(method)}: unknown roles {sorted(unknown)}")
    if raw.public and raw.roles:
        raise PolicyError(f"{contracts.full_method(method)}: public methods cannot require roles")
    return Policy(
        public=raw.public,
        roles=frozenset(raw.roles),
        permissions=frozenset(raw.permissions),
        rate_limit=raw.rate_limit or "default",
        success_status=raw.success_status or 200,
        websocket_protocol=raw.websocket_protocol,
        maintenance_exempt=raw.maintenance_exempt,
        audit=raw.audit,
        rate_limit_fail_closed=raw.rate_limit_fail_closed,
    )


@cache
def table() -> Mapping[str, MethodInfo]:
    """{'/agentmesh.v1.AuthService/Login': MethodInfo, ...} for every RPC."""
    entries: dict[str, MethodInfo] = {}
    for service in contracts.services():
        unit = contracts.unit_of(service)
        for method in service.methods:
            name = contracts.full_method(method)
            entries[name] = MethodInfo(name, unit, method, decode(method))
    return MappingProxyType(entries)


def lookup(full_method: str) -> MethodInfo | None:
    return table().get(full_method)
