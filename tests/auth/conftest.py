"""The real auth unit on a free port, a fresh SQLite database per test, and signed-in accounts."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from agentmesh.v1 import auth_pb2, auth_pb2_grpc

from services.auth import wiring
from services.auth.throttle import LoginThrottle, ThrottlePolicy
from services.auth.wiring import SPEC
from services.common.bootstrap import RunningUnit, UnitSpec, start
from services.common.settings import Settings
from services.common.storage import Database
from tests.conftest import TEST_SECRET, free_port

ADMIN_KEY = "test-admin-api-key-for-the-suite-0123456789"
PASSWORD = "correct horse 1"
_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def quick_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same counts and locks as production, without the seconds of slow-down between failures."""

    def make(db: Database) -> LoginThrottle:
        return LoginThrottle(db, ThrottlePolicy(base_delay=0.001, max_delay=0.005))

    monkeypatch.setattr(wiring, "LoginThrottle", make)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "AGENTMESH_DATA_DIR": str(tmp_path / "data"),
            "JWT_SECRET": TEST_SECRET,
            "ADMIN_API_KEY": ADMIN_KEY,
            "AGENTMESH_AUTH_PORT": str(free_port()),
        }
    )


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as units:
        yield units


@pytest.fixture
async def auth_unit(stack: AsyncExitStack, settings: Settings) -> RunningUnit:
    """The auth unit on its configured port, so other units find it for their revocation feed."""
    return await start(SPEC, settings, stack, port=settings.ports["auth"], metrics_port=0)


StartOther = Callable[[UnitSpec], Awaitable[RunningUnit]]


@pytest.fixture
def start_other(auth_unit: RunningUnit, stack: AsyncExitStack, settings: Settings) -> StartOther:
    """Start another unit in this process; it follows the auth unit's revocations."""

    async def _start(spec: UnitSpec) -> RunningUnit:
        return await start(spec, settings, stack, port=0, metrics_port=0)

    return _start


@pytest.fixture
async def auth_channel(auth_unit: RunningUnit) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth_unit.port}") as channel:
        yield channel


@dataclass(frozen=True)
class Account:
    user_id: str
    tenant_id: str
    access_token: str
    refresh_token: str
    username: str
    email: str

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.access_token}")]


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def signed_in(
    channel: grpc.aio.Channel, email: str | None = None, *, password: str = PASSWORD, role: str | None = None
) -> Account:
    """Register a fresh account (or, with a role, have the platform admin create one) and sign it in."""
    n = next(_serial)
    email = email or f"user{n}@example.com"
    username = email.split("@")[0].replace("+", "-")
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    if role is None:
        reply = await auth.Register(auth_pb2.RegisterRequest(email=email, username=username, password=password))
        return Account(reply.user.user_id, reply.user.tenant_id, reply.access_token, reply.refresh_token,
                       username, email)
    admin = await auth.AdminLogin(auth_pb2.AdminLoginRequest(api_key=ADMIN_KEY))
    created = await auth_pb2_grpc.UserAdminServiceStub(channel).AdminCreateUser(
        auth_pb2.AdminCreateUserRequest(username=username, email=email, password=password, role=role),
        metadata=bearer(admin.access_token),
    )
    login = await auth.Login(auth_pb2.LoginRequest(username=username, password=password))
    return Account(created.user.user_id, login.user.tenant_id, login.access_token, login.refresh_token,
                   username, email)
