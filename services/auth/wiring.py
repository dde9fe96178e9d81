"""The one place that builds the auth unit's store, clients and servicers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.auth.accounts import UserAdminServicer, UserServicer
from services.auth.apikeys import ApiKeyServicer
from services.auth.authn import AuthServicer, SignIn
from services.auth.clients import Clients
from services.auth.organizations import Organizations
from services.auth.schema import MIGRATIONS
from services.auth.sessions import Sessions
from services.auth.throttle import LoginThrottle
from services.common.bootstrap import Resources, UnitSpec
from services.common.events.publisher import publisher_from_settings
from services.common.tokens import TokenIssuer

log = logging.getLogger("agentmesh.auth")


async def build(resources: Resources) -> Mapping[str, object]:
    """Servicers by service full name; services not listed answer UNIMPLEMENTED."""
    db, settings = resources.db, resources.settings
    issuer = TokenIssuer(resources.keys, settings)
    sessions = Sessions(db, settings, issuer, resources.verifier, resources.revocations)
    loaded = await sessions.load()
    if loaded:
        log.info("revocations in force", extra={"count": loaded})
    signin = SignIn(db, LoginThrottle(db))
    events = publisher_from_settings(settings, resources.credentials)
    resources.stack.push_async_callback(events.aclose)
    return {
        "agentmesh.v1.AuthService": AuthServicer(db, settings, resources.keys, sessions, signin, events),
        "agentmesh.v1.UserService": UserServicer(db, sessions, events),
        "agentmesh.v1.UserAdminService": UserAdminServicer(db, sessions, events),
        "agentmesh.v1.ApiKeyService": ApiKeyServicer(db, sessions),
        "agentmesh.v1.OrganizationService": Organizations(db, sessions),
        "agentmesh.v1.ClientAdminService": Clients(db, sessions),
    }


SPEC = UnitSpec(name="auth", build=build, migrations=MIGRATIONS)
