"""With REDIS_URL, an event a unit process publishes reaches a socket held by another edge process.

Four processes and a real redis-server: the auth unit publishes `account.registered` onto the Redis
stream, the admin unit reads it, edge 1 takes the registration over REST and edge 2 holds the socket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from services.common.settings import Settings
from services.healthcheck import check_unit
from tests.auth.conftest import ADMIN_KEY
from tests.conftest import free_port
from tests.foundation.test_processes import _env, _spawn, _until
from tests.redis_server import redis_url  # noqa: F401  (fixture)


async def test_an_event_crosses_processes_through_redis(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    env = {**_env(tmp_path), "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/7", "ADMIN_API_KEY": ADMIN_KEY,
           "AGENTMESH_SUPERVISED": "1"}
    ports = {"edge1": env["GATEWAY_PORT"], "edge2": str(free_port())}
    procs = [
        await _spawn("services.auth", env, tmp_path / "auth.log"),
        await _spawn("services.admin", env, tmp_path / "admin.log"),
        await _spawn("edge", env, tmp_path / "edge1.log"),
        await _spawn("edge", {**env, "GATEWAY_PORT": ports["edge2"]}, tmp_path / "edge2.log"),
    ]
    edge1, edge2 = (f"http://127.0.0.1:{ports[name]}" for name in ("edge1", "edge2"))
    try:
        async with aiohttp.ClientSession() as http:

            async def admin_token() -> str:
                async with http.post(f"{edge2}/api/v1/admin/login", json={"api_key": ADMIN_KEY}) as response:
                    return str((await response.json())["access_token"]) if response.status == 200 else ""

            async def admin_serving() -> bool:
                report = await check_unit(Settings.from_env(env), "admin", wait=0.5)
                return all(status == "SERVING" for status in report.values())

            async def edge1_up() -> bool:
                async with http.get(f"{edge1}/health") as response:
                    return response.status == 200

            assert await _until(lambda: admin_token(), 20), (tmp_path / "edge2.log").read_text()[-2000:]
            assert await _until(edge1_up, 20)
            # The socket's feed is the admin unit's hub: it must serve before the socket opens (a loaded
            # machine starts it after the auth unit and both edges).
            assert await _until(admin_serving, 20), (tmp_path / "admin.log").read_text()[-2000:]
            token = await admin_token()
            url = f"{edge2}/api/v1/ws?all_tenants=true&patterns=account.*"
            async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as socket:
                await asyncio.sleep(0.5)  # the admin unit's Redis reader is open
                account = {"email": "far@example.com", "password": "correct horse 1"}
                async with http.post(f"{edge1}/api/v1/auth/register", json=account) as response:
                    assert response.status == 201
                    user = (await response.json())["user"]
                frame = await socket.receive_json(timeout=10)
        assert frame["type"] == "event" and frame["event"] == "account.registered"
        assert frame["data"]["user_id"] == user["user_id"] and frame["id"]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
