"""Tasks end to end: submit → resolve the agent → generate through the speech unit → stored final.

The units run as separate processes, as `make run` starts them (auth, admin, agent, speech, task,
embedded defaults, the `echo` provider, the LLM cache off so every task really calls the
provider). `--submitters` clients (default 50) each submit CreateTask with `wait: true` in a
loop for `--seconds`; a task's submit-to-done time is that call's latency. The reference, measured
in the same run at the same concurrency: direct LlmService.Generate calls to the speech unit
(what a task's provider step costs on its own). Printed: tasks/s, p50/p99 submit-to-done, the
reference's calls/s and p50, tasks/s ÷ Generate/s, the share of a task's time spent outside
the provider call (1 - Generate p50 / task p50), and the CPU each unit's process spent per task
(from /proc, where there is one: a figure that other work on the machine moves less than the rates).
Targets (issue 6): ≥ 200 tasks/s on the 2-core machine, p99 submit-to-done ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from agentmesh.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    speech_pb2,
    speech_pb2_grpc,
    task_pb2,
    task_pb2_grpc,
)

from services.common.settings import Settings
from services.healthcheck import check_unit

ROOT = Path(__file__).resolve().parents[1]
UNITS = ("auth", "admin", "agent", "task", "persona", "speech", "analytics")  # the whole platform, as make run
TARGET_RATE = 200.0
TARGET_P99_MS = 250.0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds each unit's process used meanwhile

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _load(call: Callable[[int], Awaitable[str]], clients: int, seconds: float) -> Sample:
    """`clients` loops calling `call` until `seconds` have passed; `call` returns "" or a failure name."""
    sample = Sample()
    until = time.perf_counter() + seconds
    serial = iter(range(10**9))

    async def client() -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            failure = await call(next(serial))
            if failure:
                sample.failures[failure] = sample.failures.get(failure, 0) + 1
            else:
                sample.latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    sample.elapsed = time.perf_counter() - began
    return sample


def _cpu(processes: Sequence[asyncio.subprocess.Process]) -> dict[str, float]:
    """CPU seconds (user + system) each unit's process has used so far; empty where /proc is not there."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    used = {}
    for unit, process in zip(UNITS, processes, strict=True):
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        used[unit] = (int(fields[11]) + int(fields[12])) / ticks
    return used


async def _spawn(env: dict[str, str], unit: str, logs: Path) -> asyncio.subprocess.Process:
    sink = (logs / f"{unit}.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{unit}", cwd=ROOT, env=env, stdout=sink, stderr=sink
    )


async def _serving(settings: Settings, unit: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        report = await check_unit(settings, unit, wait=0.5)
        if report and all(v == "SERVING" for v in report.values()):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the {unit} unit did not start; see its log")


async def _run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="agentmesh-bench-tasks-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTMESH_", "REDIS_URL", "LLM_", "TASK_"))}
    env.update({
        "AGENTMESH_DATA_DIR": str(workdir / "data"), "JWT_SECRET": secrets.token_urlsafe(48),
        "AGENTMESH_SUPERVISED": "1", "LLM_PROVIDER": "echo", "LLM_CACHE_TTL": "0", "LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'generated'}",
    })
    if args.workers:
        env["TASK_WORKERS"] = str(args.workers)
    if args.database_url:  # the units on PostgreSQL, each run in schemas of its own
        env["DATABASE_URL"] = args.database_url
        env["DATABASE_SCHEMA_PREFIX"] = f"bench_{secrets.token_hex(4)}_"
    for unit in UNITS:
        env[f"AGENTMESH_{unit.upper()}_PORT"] = str(_free_port())
        env[f"AGENTMESH_{unit.upper()}_METRICS_PORT"] = str(_free_port())
    settings = Settings.from_env(env)
    processes = [await _spawn(env, unit, workdir) for unit in UNITS]
    try:
        for unit in UNITS:
            await _serving(settings, unit)
        async with AsyncExitStack() as stack:
            channels = {
                unit: await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{settings.ports[unit]}"))
                for unit in UNITS
            }
            signed = await auth_pb2_grpc.AuthServiceStub(channels["auth"]).Register(
                auth_pb2.RegisterRequest(email="bench@example.com", password="correct horse 1")
            )
            user = [("authorization", f"Bearer {signed.access_token}")]
            agents = agent_pb2_grpc.AgentServiceStub(channels["agent"])
            agent = await agents.CreateAgent(
                agent_pb2.CreateAgentRequest(name="bench", type="echo", provider="echo"), metadata=user
            )
            agent_id = agent.agent.agent_id
            await agents.StartAgent(agent_pb2.StartAgentRequest(agent_id=agent_id), metadata=user)
            llm = speech_pb2_grpc.LlmServiceStub(channels["speech"])
            tasks = task_pb2_grpc.TaskServiceStub(channels["task"])

            async def generate(n: int) -> str:
                try:
                    await llm.Generate(speech_pb2.GenerateRequest(prompt=f"hello {n}", provider="echo"),
                                       metadata=user, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    return str(exc.code().name)
                return ""

            async def submit(n: int) -> str:
                try:
                    reply = await tasks.CreateTask(
                        task_pb2.CreateTaskRequest(agent_id=agent_id, input=f"task {n}", wait=True),
                        metadata=user, timeout=60,
                    )
                except grpc.aio.AioRpcError as exc:
                    return str(exc.code().name)
                return "" if reply.task.status == "succeeded" else f"status {reply.task.status}"

            await _load(submit, args.submitters, args.warmup)
            await _load(generate, args.submitters, args.warmup)
            direct = await _load(generate, args.submitters, args.seconds)
            before = _cpu(processes)
            done = await _load(submit, args.submitters, args.seconds)
            done.cpu = {unit: after - before[unit] for unit, after in _cpu(processes).items() if unit in before}
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
    print(_report(args, done, direct))
    shutil.rmtree(workdir, ignore_errors=True)  # kept, with the units' logs, only when a run fails
    return 0


def _report(args: argparse.Namespace, done: Sample, direct: Sample) -> str:
    outside = 1 - direct.ms(0.5) / done.ms(0.5) if done.latencies and direct.latencies else float("nan")
    lines = [
        f"tasks end to end, echo provider, {args.submitters} concurrent submitters, {args.seconds:g} s, "
        f"{os.cpu_count()} cores, units as separate processes on "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}",
        f"{'row':<22}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>10}",
        f"{'task (submit→done)':<22}{done.rate:>10.1f}{done.ms(0.5):>10.2f}{done.ms(0.99):>10.2f}"
        f"{sum(done.failures.values()):>10}",
        f"{'direct Generate':<22}{direct.rate:>10.1f}{direct.ms(0.5):>10.2f}{direct.ms(0.99):>10.2f}"
        f"{sum(direct.failures.values()):>10}",
        "",
        f"- tasks/s: {done.rate:.1f} (target >= {TARGET_RATE:g}: {'MET' if done.rate >= TARGET_RATE else 'MISSED'})",
        f"- p99 submit-to-done: {done.ms(0.99):.1f} ms (target <= {TARGET_P99_MS:g} ms: "
        f"{'MET' if done.ms(0.99) <= TARGET_P99_MS else 'MISSED'})",
        f"- tasks/s / direct Generate/s: {done.rate / direct.rate if direct.rate else float('nan'):.2f}",
        f"- share of a task's time outside the provider call: {outside:.0%}",
    ]
    if done.failures or direct.failures:
        lines.append(f"- failures: tasks {done.failures}, generate {direct.failures}")
    if done.latencies:
        lines.append(f"- submit-to-done ms: mean {statistics.fmean(done.latencies) * 1000:.1f}, "
                     + ", ".join(f"p{q * 100:g} {done.ms(q):.1f}" for q in (0.1, 0.5, 0.9, 0.99, 0.999))
                     + f", max {max(done.latencies) * 1000:.1f}")
    if done.latencies and done.cpu:
        per_task = ", ".join(f"{unit} {seconds * 1000 / len(done.latencies):.2f}" for unit, seconds in done.cpu.items())
        lines.append(f"- CPU per task, ms: {per_task} (total {sum(done.cpu.values()) * 1000 / len(done.latencies):.2f};"
                     " other work on the machine raises these too)")
    return "\n".join(lines)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--submitters", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=0, help="TASK_WORKERS for the task unit (default: its own)")
    parser.add_argument("--database-url", default="",
                        help="DATABASE_URL for the units, e.g. postgresql://postgres@127.0.0.1/postgres")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(_run(_arguments(sys.argv[1:] if argv is None and __name__ == "__main__" else argv or [])))


if __name__ == "__main__":
    raise SystemExit(main())
