"""Register, sign in, refresh and sign out against a running auth unit, over gRPC.

Run it beside `make run`:  .venv/bin/python examples/auth_walkthrough.py
(AGENTMESH_AUTH_ADDR overrides the address, default 127.0.0.1:50051).
"""

from __future__ import annotations

import asyncio
import os
import secrets

import grpc
from agentmesh.v1 import auth_pb2, auth_pb2_grpc


async def main(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        users = auth_pb2_grpc.UserServiceStub(channel)
        email = f"ada-{secrets.token_hex(3)}@example.com"

        # 1. Register: an account, a personal tenant, and a signed-in session.
        reg = await auth.Register(auth_pb2.RegisterRequest(email=email, password="correct horse 1"))
        print("registered", reg.user.user_id, "in tenant", reg.user.tenant_id)

        # 2. Sign in (by e-mail here; username and user_id work too).
        login = await auth.Login(auth_pb2.LoginRequest(email=email, password="correct horse 1"))
        bearer = [("authorization", f"Bearer {login.access_token}")]
        me = await users.GetMe(auth_pb2.GetMeRequest(), metadata=bearer)
        print("signed in as", me.user.username, "- access token valid for", login.expires_in, "s")

        # 3. Refresh: a new access token and a NEW refresh token; the old one is now used up.
        fresh = await auth.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=login.refresh_token))
        print("refreshed; the refresh token rotated:", fresh.refresh_token != login.refresh_token)

        # 4. Sign out: the session ends, its access tokens stop working at once.
        out = await auth.Logout(auth_pb2.LogoutRequest(refresh_token=fresh.refresh_token))
        print("signed out, sessions ended:", out.revoked_sessions)
        try:
            await users.GetMe(auth_pb2.GetMeRequest(), metadata=[("authorization", f"Bearer {fresh.access_token}")])
        except grpc.aio.AioRpcError as err:
            print("the old access token is refused:", err.code().name)


if __name__ == "__main__":
    asyncio.run(main(os.environ.get("AGENTMESH_AUTH_ADDR", "127.0.0.1:50051")))
