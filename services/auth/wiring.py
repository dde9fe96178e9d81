"""The one place that builds the auth unit's store, clients and servicers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from services.auth.accounts import UserAdminServicer, UserServicer
from services.auth.apikeys import ApiKeyServicer
from services.auth.authn import AuthServicer, SignIn
from services.auth.clients import Clients
from services.auth.organizations import Organizations
from services.auth.plans import PATTERNS, TierFollower
from services.auth.schema import MIGRATIONS
from services.auth.sessions import Sessions
from services.auth.throttle import LoginThrottle
from services.common.bootstrap import Resources, UnitSpec
from services.common.channels import unit_channel
from services.common.events.follow import follow_hub
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
    hub = unit_channel(settings, "admin")
    resources.stack.push_async_callback(hub.close)
    tiers = TierFollower(db)
    following = asyncio.get_running_loop().create_task(follow_hub(
        hub, resources.credentials, PATTERNS, tiers.apply, name="billing tiers", since=tiers.since))
    resources.stack.push_async_callback(_stopped, following)
    return {
        "agentmesh.v1.AuthService": AuthServicer(db, settings, resources.keys, sessions, signin, events),
        "agentmesh.v1.UserService": UserServicer(db, sessions, events),
        "agentmesh.v1.UserAdminService": UserAdminServicer(db, sessions, events),
        "agentmesh.v1.ApiKeyService": ApiKeyServicer(db, sessions),
        "agentmesh.v1.OrganizationService": Organizations(db, sessions),
        "agentmesh.v1.ClientAdminService": Clients(db, sessions),
    }


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


SPEC = UnitSpec(name="auth", build=build, migrations=MIGRATIONS)
