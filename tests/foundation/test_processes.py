"""Real processes: a unit exits 0 on SIGTERM; `make run`'s supervisor brings the units and the edge up and
down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from services.common.settings import UNITS, Settings
from services.healthcheck import check_all, check_unit
from tests.conftest import TEST_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_")}
    env.update({"AGENTMESH_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": TEST_SECRET})
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(free_port())
        env[f"AGENTMESH_{unit.upper()}_METRICS_PORT"] = str(free_port())
    env["GATEWAY_PORT"] = str(free_port())
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'generated'}"
    return env


async def _until(predicate: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await predicate():
                return True
        except Exception:
            pass
        await asyncio.sleep(0.1)
    return False


async def _spawn(module: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=ROOT, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )


async def test_unit_process_drains_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path)
    settings = Settings.from_env(env)
    log = tmp_path / "task.log"
    proc = await _spawn("services.task", env, log)
    try:

        async def serving() -> bool:
            report = await check_unit(settings, "task", wait=0.5)
            return all(v == "SERVING" for v in report.values())

        assert await _until(serving, 15), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        messages = [json.loads(line)["msg"] for line in log.read_text().splitlines() if line.startswith("{")]
        assert "draining" in messages and "stopped" in messages
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _register_login_me(base: str) -> None:
    """The whole mesh as `make run` starts it: REST in, the auth unit behind, tokens verified."""
    account = {"email": "mesh@example.com", "password": "correct horse 1"}
    async with aiohttp.ClientSession(base) as http:
        async with http.post("/api/v1/auth/register", json=account) as response:
            assert response.status == 201, await response.text()
        login = {"username": "mesh@example.com", "password": account["password"]}
        async with http.post("/auth/login", json=login) as response:
            token = (await response.json())["access_token"]
        async with http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}) as response:
            assert (await response.json())["email"] == "mesh@example.com"
        async with http.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200 and (await response.json())["agents"] == []  # the agent unit answers


async def test_supervisor_brings_all_units_to_serving_and_stops_them(tmp_path: Path) -> None:
    env = _env(tmp_path)
    settings = Settings.from_env(env)
    log = tmp_path / "supervisor.log"
    started = time.monotonic()
    proc = await _spawn("services.supervisor", env, log)
    try:

        async def all_serving() -> bool:
            report = await check_all(settings)
            units = all(v == "SERVING" for statuses in report.values() for v in statuses.values())
            return units and await edge_ready()

        async def edge_ready() -> bool:
            url = f"http://127.0.0.1:{settings.gateway_port}/health/ready"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return response.status == 200

        assert await _until(all_serving, 10), log.read_text()
        assert time.monotonic() - started < 10
        await _register_login_me(f"http://127.0.0.1:{settings.gateway_port}")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        text = log.read_text()
        for unit in UNITS:
            assert f"{unit:<10} grpc 127.0.0.1:{settings.ports[unit]}" in text
        assert f"edge       http://127.0.0.1:{settings.gateway_port}" in text
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
