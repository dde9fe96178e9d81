"""The auth unit over gRPC: sign-up, sign-in, rotation, revocation, API keys, brute force."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc
import jwt
import pytest
from agentmesh.v1 import agent_pb2, agent_pb2_grpc, auth_pb2, auth_pb2_grpc
from google.rpc import error_details_pb2

from services.auth import wiring
from services.auth.throttle import ThrottlePolicy
from services.common.bootstrap import RunningUnit, UnitSpec
from services.common.errors import status_from_trailers
from services.common.servicecreds import service_secret
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY, PASSWORD, StartOther, bearer, signed_in
from tests.stored import stored_bytes


def code_of(info: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> grpc.StatusCode:
    return info.value.code()


def violations_of(err: grpc.aio.AioRpcError) -> set[str]:
    status = status_from_trailers(err.trailing_metadata())
    assert status is not None
    fields = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
    return fields


def claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_register_login_me_refresh_logout(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    reg = await auth.Register(
        auth_pb2.RegisterRequest(email="Ada@Example.com", username="ada", password=PASSWORD, full_name="Ada L")
    )
    assert reg.user.email == "ada@example.com" and reg.user.role == "user" and reg.token_type == "bearer"
    assert reg.expires_in == 30 * 60 and reg.refresh_expires_in == 7 * 86400
    access = claims(reg.access_token)
    assert access["typ"] == "access" and access["sub"] == reg.user.user_id and access["tid"] == reg.user.tenant_id
    assert "tenant:owner" in access["perms"]  # type: ignore[operator]
    assert claims(reg.refresh_token)["typ"] == "refresh"

    for request in (
        auth_pb2.LoginRequest(username="ada", password=PASSWORD),
        auth_pb2.LoginRequest(email="ADA@example.com", password=PASSWORD),
        auth_pb2.LoginRequest(user_id=reg.user.user_id, password=PASSWORD),
        auth_pb2.LoginRequest(username="ada@example.com", password=PASSWORD),
    ):
        login = await auth.Login(request)
        assert login.user.user_id == reg.user.user_id

    me = await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(login.access_token))
    assert me.user.username == "ada" and me.user.last_login_at.seconds > 0

    refreshed = await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token))
    assert refreshed.refresh_token != login.refresh_token
    assert claims(refreshed.access_token)["sid"] == claims(login.access_token)["sid"]
    out = await auth.Logout(auth_pb2.LogoutRequest(refresh_token=refreshed.refresh_token))
    assert out.revoked_sessions == 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=refreshed.refresh_token))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(refreshed.access_token))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    # Another session of the same user is untouched.
    me = await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(reg.access_token))
    assert me.user.user_id == reg.user.user_id


async def test_bearer_logout_and_all_sessions(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    second = await auth.Login(auth_pb2.LoginRequest(email=account.email, password=PASSWORD))
    out = await auth.Logout(auth_pb2.LogoutRequest(), metadata=account.metadata)
    assert out.revoked_sessions == 1
    await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(second.access_token))
    out = await auth.Logout(auth_pb2.LogoutRequest(all_sessions=True), metadata=bearer(second.access_token))
    assert out.revoked_sessions == 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(second.access_token))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    # An unknown refresh token is not an error: nothing to end.
    out = await auth.Logout(auth_pb2.LogoutRequest(refresh_token="not.a.token"))
    assert out.revoked_sessions == 0


@pytest.mark.parametrize(
    ("request_fields", "bad_fields"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": "short"}, {"password"}),
        ({"email": "a@example.com", "password": "12345678901"}, {"password"}),
        ({"email": "", "password": ""}, {"email", "password"}),
        ({"email": "a@example.com", "username": "-bad name", "password": PASSWORD}, {"username"}),
        ({"email": "a@example.com", "password": PASSWORD, "tier": "platinum"}, {"tier"}),
    ],
)
async def test_register_rejects_bad_input_and_writes_nothing(
    auth_channel: grpc.aio.Channel, auth_unit: RunningUnit, request_fields: dict[str, str], bad_fields: set[str]
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Register(auth_pb2.RegisterRequest(**request_fields))
    assert code_of(info) == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(info.value) == bad_fields
    for table in ("users", "tenants", "memberships", "sessions"):
        row = await auth_unit.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")
        assert row is not None and row["n"] == 0, table


async def test_register_refuses_duplicates_and_paid_tiers(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    await signed_in(auth_channel, "dup@example.com")
    for request in (
        auth_pb2.RegisterRequest(email="DUP@example.com", username="other", password=PASSWORD),
        auth_pb2.RegisterRequest(email="new@example.com", username="dup", password=PASSWORD),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await auth.Register(request)
        assert code_of(info) == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Register(auth_pb2.RegisterRequest(email="rich@example.com", password=PASSWORD, tier="pro"))
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED


async def test_concurrent_refreshes_one_wins_then_the_family_is_revoked(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    request = auth_pb2.RefreshTokenRequest(refresh_token=account.refresh_token)
    results = await asyncio.gather(*(auth.RefreshToken(request) for _ in range(50)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, auth_pb2.RefreshTokenResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 49
    assert {e.code() for e in losers} == {grpc.StatusCode.UNAUTHENTICATED}
    # The reuse revoked the whole session: the winner's new tokens are dead too.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=winners[0].refresh_token))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    for token in (winners[0].access_token, account.access_token):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token))
        assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED


async def test_reused_refresh_token_revokes_the_session(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    first = await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=account.refresh_token))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=account.refresh_token))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError):
        await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))


async def test_logout_reaches_another_units_verifier_within_a_second(
    auth_channel: grpc.aio.Channel, start_other: StartOther
) -> None:
    async def build(resources: object) -> dict[str, object]:
        return {}

    agent = await start_other(UnitSpec(name="agent", build=build))  # type: ignore[arg-type]
    account = await signed_in(auth_channel)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{agent.port}") as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)

        async def code() -> grpc.StatusCode:
            try:
                await stub.ListAgents(agent_pb2.ListAgentsRequest(), metadata=account.metadata)
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        # Signed in: the agent unit accepts the token (and answers that ListAgents is not built).
        assert await code() == grpc.StatusCode.UNIMPLEMENTED
        await auth_pb2_grpc.AuthServiceStub(auth_channel).Logout(
            auth_pb2.LogoutRequest(refresh_token=account.refresh_token)
        )
        started = time.monotonic()
        while await code() != grpc.StatusCode.UNAUTHENTICATED:
            assert time.monotonic() - started < 1.0, "the agent unit still accepts a logged-out token"
            await asyncio.sleep(0.02)


async def test_brute_force_locks_the_account_and_hides_which_accounts_exist(
    auth_channel: grpc.aio.Channel,
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    answers = {}
    for name in (account.username, "nobody-by-this-name"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await auth.Login(auth_pb2.LoginRequest(username=name, password="wrong password 1"))
        answers[name] = (info.value.code(), info.value.details())
    assert answers[account.username] == answers["nobody-by-this-name"]
    assert answers[account.username][0] == grpc.StatusCode.UNAUTHENTICATED
    for _ in range(ThrottlePolicy().lock_after - 1):
        with pytest.raises(grpc.aio.AioRpcError):
            await auth.Login(auth_pb2.LoginRequest(username=account.username, password="wrong password 1"))
    # Locked: even the right password is refused, with a retry delay.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Login(auth_pb2.LoginRequest(username=account.username, password=PASSWORD))
    assert code_of(info) == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = status_from_trailers(info.value.trailing_metadata())
    assert status is not None and any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
    # Unknown accounts lock the same way.
    for _ in range(ThrottlePolicy().lock_after - 1):
        with pytest.raises(grpc.aio.AioRpcError):
            await auth.Login(auth_pb2.LoginRequest(username="nobody-by-this-name", password="x"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Login(auth_pb2.LoginRequest(username="nobody-by-this-name", password="x"))
    assert code_of(info) == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_admin_login_by_key_and_by_password(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    by_key = await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
    assert claims(by_key.access_token)["role"] == "superuser"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key="wrong-key"))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED

    admin = await signed_in(auth_channel, role="admin")
    reply = await auth.AdminLogin(auth_pb2.AdminLoginRequest(username=admin.username, password=PASSWORD))
    assert reply.user.role == "admin" and claims(reply.access_token)["role"] == "admin"
    # A plain user gets exactly the answer of a wrong password.
    user = await signed_in(auth_channel)
    with pytest.raises(grpc.aio.AioRpcError) as plain:
        await auth.AdminLogin(auth_pb2.AdminLoginRequest(username=user.username, password=PASSWORD))
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await auth.AdminLogin(auth_pb2.AdminLoginRequest(username=admin.username, password="wrong password 1"))
    assert (plain.value.code(), plain.value.details()) == (wrong.value.code(), wrong.value.details())


async def test_policy_is_enforced_by_the_unit(auth_channel: grpc.aio.Channel) -> None:
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    admin_users = auth_pb2_grpc.UserAdminServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    cases = [
        ([], grpc.StatusCode.UNAUTHENTICATED),
        ([("authorization", "Basic abc")], grpc.StatusCode.UNAUTHENTICATED),
        (bearer("garbage"), grpc.StatusCode.UNAUTHENTICATED),
        (bearer(account.refresh_token), grpc.StatusCode.UNAUTHENTICATED),
        # Client-sent identity metadata without a token is ignored, never trusted.
        ([("x-user-id", account.user_id), ("x-user-role", "admin")], grpc.StatusCode.UNAUTHENTICATED),
    ]
    for metadata, expected in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await users.GetMe(auth_pb2.GetMeRequest(), metadata=metadata)
        assert code_of(info) == expected, metadata
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin_users.AdminListUsers(auth_pb2.AdminListUsersRequest(), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    # A user's forged role header does not beat its token's claims.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin_users.AdminListUsers(
            auth_pb2.AdminListUsersRequest(), metadata=[*account.metadata, ("x-user-role", "admin")]
        )
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED


async def test_api_keys_shown_once_verified_by_services_and_revoked(
    auth_channel: grpc.aio.Channel, settings: Settings
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    keys = auth_pb2_grpc.ApiKeyServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    created = await keys.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="ci", permissions=["tasks:read"]), metadata=account.metadata
    )
    assert created.key.startswith("amk_") and created.api_key.last_four == created.key[-4:]
    listed = await keys.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=account.metadata)
    assert [k.api_key_id for k in listed.api_keys] == [created.api_key.api_key_id]
    assert created.key not in str(listed)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.VerifyApiKey(auth_pb2.VerifyApiKeyRequest(key=created.key), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED  # users cannot probe keys
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.IssueServiceToken(auth_pb2.IssueServiceTokenRequest(service="agent", secret="guess"))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    service = await auth.IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="edge", secret=service_secret(settings))
    )
    assert claims(service.access_token)["role"] == "service"
    principal = (
        await auth.VerifyApiKey(auth_pb2.VerifyApiKeyRequest(key=created.key), metadata=bearer(service.access_token))
    ).principal
    assert (principal.user_id, principal.tenant_id, list(principal.permissions)) == (
        account.user_id, account.tenant_id, ["tasks:read"],
    )
    forged = created.key[:-1] + ("1" if created.key[-1] == "0" else "0")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.VerifyApiKey(auth_pb2.VerifyApiKeyRequest(key=forged), metadata=bearer(service.access_token))
    assert code_of(info) == grpc.StatusCode.NOT_FOUND

    # The service acts for the key's owner: the unit believes the vouched identity.
    me = await auth_pb2_grpc.UserServiceStub(auth_channel).GetMe(
        auth_pb2.GetMeRequest(),
        metadata=[*bearer(service.access_token), ("x-user-id", account.user_id), ("x-client-id", account.tenant_id),
                  ("x-api-key-id", created.api_key.api_key_id)],
    )
    assert me.user.user_id == account.user_id

    await keys.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(api_key_id=created.api_key.api_key_id), metadata=account.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.VerifyApiKey(auth_pb2.VerifyApiKeyRequest(key=created.key), metadata=bearer(service.access_token))
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await keys.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(api_key_id=created.api_key.api_key_id), metadata=account.metadata
        )
    assert code_of(info) == grpc.StatusCode.NOT_FOUND


async def test_password_change_and_delete_end_every_session(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.ChangePassword(
            auth_pb2.ChangePasswordRequest(current_password="wrong password 1", new_password="new password 22"),
            metadata=account.metadata,
        )
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    changed = await users.ChangePassword(
        auth_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password="new password 22"),
        metadata=account.metadata,
    )
    assert changed.revoked_sessions == 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.GetMe(auth_pb2.GetMeRequest(), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    login = await auth.Login(auth_pb2.LoginRequest(username=account.username, password="new password 22"))
    await users.DeleteMe(auth_pb2.DeleteMeRequest(), metadata=bearer(login.access_token))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Login(auth_pb2.LoginRequest(username=account.username, password="new password 22"))
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    # The name is free again.
    await signed_in(auth_channel, account.email)


async def test_me_updates_and_settings(auth_channel: grpc.aio.Channel) -> None:
    users = auth_pb2_grpc.UserServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    other = await signed_in(auth_channel)
    updated = await users.UpdateMe(auth_pb2.UpdateMeRequest(full_name="Grace H"), metadata=account.metadata)
    assert updated.user.full_name == "Grace H" and updated.user.username == account.username
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.UpdateMe(auth_pb2.UpdateMeRequest(username=other.username), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.UpdateMe(auth_pb2.UpdateMeRequest(email="nope"), metadata=account.metadata)
    assert violations_of(info.value) == {"email"}
    request = auth_pb2.UpdateMySettingsRequest()
    request.settings.update({"theme": "dark", "language": "en"})
    await users.UpdateMySettings(request, metadata=account.metadata)
    request = auth_pb2.UpdateMySettingsRequest()
    request.settings.update({"theme": "light"})
    reply = await users.UpdateMySettings(request, metadata=account.metadata)
    assert dict(reply.settings) == {"theme": "light", "language": "en"}
    # Another tenant's user is not visible.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users.GetUser(auth_pb2.GetUserRequest(user_id=other.user_id), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.NOT_FOUND


async def test_admin_manages_users(auth_channel: grpc.aio.Channel) -> None:
    admin = await signed_in(auth_channel, role="admin")
    user = await signed_in(auth_channel)
    stub = auth_pb2_grpc.UserAdminServiceStub(auth_channel)
    listed = await stub.AdminListUsers(auth_pb2.AdminListUsersRequest(limit=1), metadata=admin.metadata)
    assert len(listed.users) == 1 and listed.total_size >= 2 and listed.next_page_token
    page2 = await stub.AdminListUsers(
        auth_pb2.AdminListUsersRequest(page_size=1, page_token=listed.next_page_token), metadata=admin.metadata
    )
    assert page2.users[0].user_id != listed.users[0].user_id
    blocked = await stub.AdminUpdateUser(
        auth_pb2.AdminUpdateUserRequest(user_id=user.user_id, status="blocked"), metadata=admin.metadata
    )
    assert blocked.user.status == "blocked"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.UserServiceStub(auth_channel).GetMe(auth_pb2.GetMeRequest(), metadata=user.metadata)
    assert code_of(info) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.AuthServiceStub(auth_channel).Login(
            auth_pb2.LoginRequest(username=user.username, password=PASSWORD)
        )
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    stats = await stub.AdminGetUserStats(auth_pb2.AdminGetUserStatsRequest(), metadata=admin.metadata)
    assert stats.blocked_users == 1 and stats.total_users == stats.active_users + 1
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AdminUpdateUser(
            auth_pb2.AdminUpdateUserRequest(user_id=user.user_id, role="superuser"), metadata=admin.metadata
        )
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AdminCreateUser(
            auth_pb2.AdminCreateUserRequest(username="x y", role="king"), metadata=admin.metadata
        )
    assert violations_of(info.value) == {"username", "role"}
    await stub.AdminDeleteUser(auth_pb2.AdminDeleteUserRequest(user_id=user.user_id), metadata=admin.metadata)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.AdminGetUser(auth_pb2.AdminGetUserRequest(user_id=user.user_id), metadata=admin.metadata)
    assert code_of(info) == grpc.StatusCode.NOT_FOUND


async def test_issue_token_compat_endpoint(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    other = await signed_in(auth_channel)
    mine = await auth.IssueToken(auth_pb2.IssueTokenRequest(), metadata=account.metadata)
    assert claims(mine.access_token)["sub"] == account.user_id and mine.token_type == "bearer"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.IssueToken(auth_pb2.IssueTokenRequest(user_id=other.user_id), metadata=account.metadata)
    assert code_of(info) == grpc.StatusCode.PERMISSION_DENIED
    admin = await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
    theirs = await auth.IssueToken(auth_pb2.IssueTokenRequest(user_id=other.user_id),
                                   metadata=bearer(admin.access_token))
    assert claims(theirs.access_token)["sub"] == other.user_id


async def test_no_password_or_key_secret_reaches_disk_or_logs(
    auth_channel: grpc.aio.Channel, auth_unit: RunningUnit, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_password = "unique-secret-Password-4242"
    account = await signed_in(auth_channel, password=secret_password)
    created = await auth_pb2_grpc.ApiKeyServiceStub(auth_channel).CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="k"), metadata=account.metadata
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await auth_pb2_grpc.AuthServiceStub(auth_channel).Login(
            auth_pb2.LoginRequest(username=account.username, password=secret_password + "x")
        )
    secret = created.key.rsplit("_", 1)[1]
    for where, data in await stored_bytes(settings, "auth"):
        for needle in (secret_password, secret, secret_password + "x"):
            assert needle.encode() not in data, where
    for needle in (secret_password, secret):
        assert needle not in caplog.text


async def test_jwks_is_empty_for_hmac(auth_channel: grpc.aio.Channel) -> None:
    reply = await auth_pb2_grpc.AuthServiceStub(auth_channel).GetJwks(auth_pb2.GetJwksRequest())
    assert list(reply.keys) == []


async def test_the_readme_walkthrough_runs(auth_unit: RunningUnit, capsys: pytest.CaptureFixture[str]) -> None:
    from examples import auth_walkthrough

    await auth_walkthrough.main(f"127.0.0.1:{auth_unit.port}")
    out = capsys.readouterr().out
    assert "the refresh token rotated: True" in out
    assert "sessions ended: 1" in out
    assert "the old access token is refused: UNAUTHENTICATED" in out


async def test_asymmetric_keys_publish_a_jwks_that_verifies_the_tokens(tmp_path: Path) -> None:
    from contextlib import AsyncExitStack

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from services.common.bootstrap import start

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings = Settings.from_env(
        {"AGENTMESH_DATA_DIR": str(tmp_path), "JWT_ALGORITHM": "ES256", "JWT_PRIVATE_KEY": pem.decode()}
    )
    async with AsyncExitStack() as stack:
        unit = await start(wiring.SPEC, settings, stack, port=0, metrics_port=0)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{unit.port}") as channel:
            account = await signed_in(channel)
            reply = await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_pb2.GetJwksRequest())
            assert len(reply.keys) == 1
            jwk = dict(reply.keys[0])
            assert jwk["kty"] == "EC" and jwk["alg"] == "ES256" and "d" not in jwk
            assert jwt.get_unverified_header(account.access_token)["kid"] == jwk["kid"]
            decoded = jwt.decode(account.access_token, jwt.PyJWK(jwk).key, algorithms=["ES256"])
            assert decoded["sub"] == account.user_id
            # The unit itself verifies its ES256 tokens.
            me = await auth_pb2_grpc.UserServiceStub(channel).GetMe(auth_pb2.GetMeRequest(), metadata=account.metadata)
            assert me.user.user_id == account.user_id
