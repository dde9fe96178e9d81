"""Maintenance mode as the edge sees it: the admin unit's switch, polled and cached.

While it is on, non-admin callers of methods that are not `maintenance_exempt`
get 503 with the maintenance message; admins and exempt methods (sign-in,
health, the admin tools) are served. An admin unit that cannot be asked (not
built, restarting) leaves the last known state in place, starting from "off".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc
from agentmesh.v1 import admin_pb2, admin_pb2_grpc

from edge.errors import EdgeError
from services.common.authctx import Caller
from services.common.policy import MethodInfo
from services.common.protoutil import seconds

log = logging.getLogger("agentmesh.edge.maintenance")

POLL_SECONDS = 2.0


class MaintenanceSwitch:
    def __init__(self, channel: grpc.aio.Channel, *, every: float = POLL_SECONDS) -> None:
        self._stub = admin_pb2_grpc.PlatformAdminServiceStub(channel)
        self._every = every
        self.enabled = False
        self.message = ""
        self.expected_end = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="maintenance-switch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        try:
            reply = await self._stub.GetMaintenanceMode(admin_pb2.GetMaintenanceModeRequest(), timeout=self._every)
        except grpc.aio.AioRpcError as err:
            log.debug("maintenance switch not readable: %s", err.code().name)
            return
        state = reply.maintenance
        if state.enabled != self.enabled:
            log.warning("maintenance mode %s", "on" if state.enabled else "off", extra={"notice": state.message})
        self.enabled = state.enabled
        self.message = state.message
        self.expected_end = seconds(state.expected_end_at) if state.HasField("expected_end_at") else 0.0

    async def _poll(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._every)

    def check(self, caller: Caller, info: MethodInfo | None) -> None:
        """Raise 503 when maintenance keeps this caller from this method."""
        if not self.enabled or caller.is_admin or (info is not None and info.policy.maintenance_exempt):
            return
        headers = {}
        if self.expected_end:
            headers["Retry-After"] = str(max(1, int(self.expected_end - time.time())))
        raise EdgeError(
            503, self.message or "the platform is in maintenance; try again later", code="UNAVAILABLE",
            headers=headers,
        )
