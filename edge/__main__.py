"""Run the edge: `python -m edge` (make run starts it with the units)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from aiohttp import web

from edge.mesh import create_app
from services.common import logs
from services.common.eventloop import run
from services.common.settings import Settings, SettingsError, load

log = logging.getLogger("agentmesh.edge")


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.grace_period)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.gateway_port, reuse_address=True)
    await site.start()
    log.info("serving", extra={"http": f"http://{settings.host}:{settings.gateway_port}"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("draining")
    await runner.cleanup()
    log.info("stopped")


def main() -> None:
    try:
        settings = load()
    except SettingsError as exc:
        print(f"edge: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure("edge", settings.log_level, settings.log_format)
    if not settings.supervised:
        for problem in settings.unsafe_defaults():
            log.warning("UNSAFE FOR PRODUCTION: %s", problem)
    gc.freeze()  # the contracts and modules live as long as the process: full collections need not walk them
    try:
        run(serve(settings))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None


main()
