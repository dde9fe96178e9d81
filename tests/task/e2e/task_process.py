"""The task unit as its own process (`python -m services.task`), so a test can kill it with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from services.common.settings import Settings
from services.healthcheck import check_unit
from tests.task.e2e.conftest import mesh_env
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[3]


async def _spawn(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "services.task", cwd=ROOT, env=env,
                                                    stdout=sink, stderr=asyncio.subprocess.STDOUT)


class TaskProcess:
    """`python -m services.task` with the test's environment; started, killed and started again."""

    def __init__(self, tmp_path: Path, model_url: str, **extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_")}
        env.update(mesh_env(tmp_path, model_url, **{"TASK_WORKERS": "2", **extra}))
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'generated'}"
        self.env = env
        self.settings = Settings.from_env(env)
        self.log = tmp_path / "task.log"
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        self.processes.append(await _spawn(self.env, self.log))

        async def serving() -> bool:
            report = await check_unit(self.settings, "task", wait=0.5)
            return all(v == "SERVING" for v in report.values())

        await until(serving, "the task unit serving: " + self.log.read_text(), 20)

    async def kill(self) -> None:
        process = self.processes[-1]
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
