"""`make run`: start all seven units and the edge as child processes and keep them together.

Ctrl-C or SIGTERM is forwarded to every child, which drains and exits; the
supervisor exits 0 once all have. If one child dies on its own, the others are
stopped and the supervisor exits non-zero, so a broken unit is never hidden.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
import time

from services.common.settings import UNITS, Settings, SettingsError, environment
from services.healthcheck import check_all

log = logging.getLogger("agentmesh.supervisor")


def _child_environment(settings: Settings) -> dict[str, str]:
    env = environment()
    env["AGENTMESH_SUPERVISED"] = "1"
    if settings.jwt_secret_generated:
        # One secret for the whole mesh, or tokens issued by auth would not verify elsewhere.
        env["JWT_SECRET"] = secrets.token_urlsafe(48)
    return env


async def _edge_answers(settings: Settings) -> bool:
    try:
        _reader, writer = await asyncio.open_connection(settings.host, settings.gateway_port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _wait_serving(settings: Settings, deadline: float) -> bool:
    while time.monotonic() < deadline:
        report = await check_all(settings)
        units = all(status == "SERVING" for statuses in report.values() for status in statuses.values())
        if units and await _edge_answers(settings):
            return True
        await asyncio.sleep(0.2)
    return False


async def supervise(settings: Settings) -> int:
    env = _child_environment(settings)
    for problem in settings.unsafe_defaults():
        print(f"WARNING — unsafe for production: {problem}", file=sys.stderr)
    started = time.monotonic()
    children = {
        unit: await asyncio.create_subprocess_exec(sys.executable, "-m", f"services.{unit}", env=env)
        for unit in UNITS
    }
    children["edge"] = await asyncio.create_subprocess_exec(sys.executable, "-m", "edge", env=env)
    for unit in UNITS:
        print(
            f"  {unit:<10} grpc {settings.host}:{settings.ports[unit]:<6} "
            f"metrics http://{settings.host}:{settings.metrics_ports[unit]}/metrics"
        )
    edge_url = f"http://{settings.host}:{settings.gateway_port}"
    print(f"  {'edge':<10} {edge_url}  (docs {edge_url}/docs, metrics {edge_url}/metrics)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    waits = {asyncio.ensure_future(p.wait()): unit for unit, p in children.items()}
    stopper = asyncio.ensure_future(stop.wait())
    serving = asyncio.ensure_future(_wait_serving(settings, started + 60))
    serving.add_done_callback(
        lambda f: print(
            f"all {len(UNITS)} units SERVING and the edge up after {time.monotonic() - started:.1f}s"
            " — Ctrl-C stops them"
            if not f.cancelled() and f.result()
            else "units did not all become SERVING; see the logs above",
            flush=True,
        )
    )
    done, _ = await asyncio.wait({stopper, *waits}, return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()
    crashed = [waits[f] for f in done if f in waits]
    for process in children.values():
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(
            asyncio.gather(*(p.wait() for p in children.values())), settings.grace_period + 5
        )
    except TimeoutError:
        for process in children.values():
            if process.returncode is None:
                process.kill()
        await asyncio.gather(*(p.wait() for p in children.values()))
    stopper.cancel()
    if crashed:
        for unit in crashed:
            print(f"{unit} exited with code {children[unit].returncode}", file=sys.stderr)
        return 1
    bad = {u: p.returncode for u, p in children.items() if p.returncode not in (0, -signal.SIGTERM)}
    return 1 if bad else 0


def main() -> int:
    try:
        settings = Settings.from_env(environment())
    except SettingsError as exc:
        print(f"bad setting: {exc}", file=sys.stderr)
        return 2
    print("AgentMesh: starting the units and the edge")
    return asyncio.run(supervise(settings))


if __name__ == "__main__":
    sys.exit(main())
