"""Shared fixtures: settings in a temp directory, units started on free ports.

`pytest --database postgresql` runs the same tests with every unit the tests
start on PostgreSQL (tests/postgres_server.py: a throwaway server for the
session, a schema prefix of its own for each test), by adding DATABASE_URL and
DATABASE_SCHEMA_PREFIX to every Settings the tests build that names no
database itself. Units the tests run as separate processes keep their own
environment.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from services.common.bootstrap import RunningUnit, UnitSpec, start
from services.common.settings import Settings
from tests.ports import free_port  # noqa: F401  (re-exported for the tests that import it here)
from tests.postgres_server import postgres_url  # noqa: F401  (fixture)
from tests.speech.openai_server import FakeOpenAi

TEST_SECRET = "test-secret-for-the-suite-only-0123456789abcdef"
_test_numbers = itertools.count(1)
_RUN = uuid.uuid4().hex[:6]  # schema names of this run: a server given by URL outlives it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database", choices=("sqlite", "postgresql"), default="sqlite",
                     help="where the units the tests start keep their data (default: SQLite files)")


@pytest.fixture(autouse=True)
def unit_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The database kind this run puts the units on; with postgresql, Settings name the test's schemas."""
    kind = str(request.config.getoption("--database"))
    if kind == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
        prefix = f"t{_RUN}_{next(_test_numbers)}_"
        built = Settings.from_env.__func__  # type: ignore[attr-defined]

        def from_env(cls: type[Settings], env: Mapping[str, str] | None = None) -> Settings:
            given = dict(env if env is not None else {})
            if "DATABASE_URL" not in given:
                given.update({"DATABASE_URL": url, "DATABASE_SCHEMA_PREFIX": prefix})
            return built(cls, given)  # type: ignore[no-any-return]

        monkeypatch.setattr(Settings, "from_env", classmethod(from_env))
    return kind




@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET})


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAi]:
    """A local server speaking the OpenAI API (tests/speech/openai_server.py), at its base_url."""
    fake = FakeOpenAi()
    async with TestServer(fake.app, host="127.0.0.1") as server:
        fake.base_url = str(server.make_url("/v1"))
        yield fake


StartUnit = Callable[[UnitSpec], Awaitable[RunningUnit]]


@pytest.fixture
async def start_unit(settings: Settings) -> AsyncIterator[StartUnit]:
    """Start units in this process on port 0; all are stopped when the test ends."""
    async with AsyncExitStack() as stack:

        async def _start(spec: UnitSpec) -> RunningUnit:
            return await start(spec, settings, stack, port=0, metrics_port=0)

        yield _start
