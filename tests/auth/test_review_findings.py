"""Regression tests for attacks a security review tried against the auth unit."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest
from agentmesh.v1 import auth_pb2, auth_pb2_grpc

from services.auth.throttle import ThrottlePolicy
from services.common.servicecreds import service_secret
from services.common.settings import Settings
from tests.auth.conftest import ADMIN_KEY, PASSWORD, bearer, signed_in

LIMIT = ThrottlePolicy().lock_after


async def test_decoy_fields_cannot_steer_the_count_away_from_the_account(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    victim = await signed_in(auth_channel)
    for n in range(LIMIT):
        with pytest.raises(grpc.aio.AioRpcError):
            await auth.Login(auth_pb2.LoginRequest(username=f"decoy{n}", email=victim.email, password="guess 12345"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.Login(auth_pb2.LoginRequest(email=victim.email, password=PASSWORD))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_parallel_guesses_are_counted_before_they_are_checked(auth_channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    victim = await signed_in(auth_channel)
    results = await asyncio.gather(
        *(auth.Login(auth_pb2.LoginRequest(email=victim.email, password="guess 12345")) for _ in range(40)),
        return_exceptions=True,
    )
    codes = [r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) == LIMIT  # only that many passwords were checked
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 40 - LIMIT


async def test_failed_sign_ins_cannot_lock_service_or_admin_credentials(
    auth_channel: grpc.aio.Channel, settings: Settings
) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    for _ in range(LIMIT + 2):
        for name in ("service:edge", "admin-api-key", "admin-key"):
            with pytest.raises(grpc.aio.AioRpcError):
                await auth.Login(auth_pb2.LoginRequest(username=name, password="guess 12345"),
                                 metadata=[("x-forwarded-for", "203.0.113.9")])
    token = await auth.IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="edge", secret=service_secret(settings))
    )
    assert token.access_token
    assert (await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))).access_token


async def test_an_api_key_cannot_be_turned_into_a_token(auth_channel: grpc.aio.Channel, settings: Settings) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(auth_channel)
    account = await signed_in(auth_channel)
    created = await auth_pb2_grpc.ApiKeyServiceStub(auth_channel).CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="ci"), metadata=account.metadata
    )
    service = await auth.IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(service="edge", secret=service_secret(settings))
    )
    as_key = [*bearer(service.access_token), ("x-user-id", account.user_id), ("x-client-id", account.tenant_id),
              ("x-api-key-id", created.api_key.api_key_id)]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.IssueToken(auth_pb2.IssueTokenRequest(), metadata=as_key)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    minted = await auth.IssueToken(auth_pb2.IssueTokenRequest(), metadata=account.metadata)
    # A token a user mints for themself belongs to their session and ends with it.
    await auth.Logout(auth_pb2.LogoutRequest(), metadata=account.metadata)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.UserServiceStub(auth_channel).GetMe(auth_pb2.GetMeRequest(),
                                                               metadata=bearer(minted.access_token))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("raw", [b"o:99999999999999999999999", b"o:\xd9\xa3", b"x:1", b"o:-1"])
async def test_forged_page_tokens_are_invalid_arguments(auth_channel: grpc.aio.Channel, raw: bytes) -> None:
    account = await signed_in(auth_channel)
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth_pb2_grpc.ApiKeyServiceStub(auth_channel).ListApiKeys(
            auth_pb2.ListApiKeysRequest(page_token=token), metadata=account.metadata
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
