"""Reporting finished work to the analytics unit: usage records, in batches, in the background.

A unit hands a UsageRecord over and goes on; the reporter sends what came
within a second as one RecordUsage call under the unit's service token
(services.common.batching: in order, waiting while the analytics unit is
away, bounded). Usage is not urgent, so a long linger keeps the cost per
record near nothing. A batch the analytics unit refuses is halved until the
bad record stands alone; the rest are stored.
"""

from __future__ import annotations

import logging

import grpc
from agentmesh.v1 import analytics_pb2, analytics_pb2_grpc

from services.common.batching import InOrderSender
from services.common.channels import unit_channel
from services.common.servicecreds import ServiceCredentials
from services.common.settings import Settings

log = logging.getLogger("agentmesh.usage")
LINGER = 1.0


class UsageReporter(InOrderSender[analytics_pb2.UsageRecord]):
    def __init__(self, settings: Settings, credentials: ServiceCredentials, *, linger: float = LINGER,
                 timeout: float = 5.0) -> None:
        super().__init__("usage record", linger=linger)
        self._channel = unit_channel(settings, "analytics")
        self._stub = analytics_pb2_grpc.UsageAnalyticsServiceStub(self._channel)
        self._credentials = credentials
        self._timeout = timeout
        self._away = False  # the analytics unit could not be reached last time (said once in the log)

    async def _deliver(self, records: list[analytics_pb2.UsageRecord]) -> list[analytics_pb2.UsageRecord]:
        try:
            await self._stub.RecordUsage(analytics_pb2.RecordUsageRequest(records=records),
                                         metadata=await self._credentials.metadata(), timeout=self._timeout)
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else grpc.StatusCode.DEADLINE_EXCEEDED
            if code == grpc.StatusCode.UNAVAILABLE:
                if not self._away:
                    log.warning("the analytics unit is unreachable; usage records wait for it: %s", exc)
                self._away = True
                return records
            if code == grpc.StatusCode.INVALID_ARGUMENT and len(records) > 1:
                half = len(records) // 2
                left = await self._deliver(records[:half])
                return [*left, *records[half:]] if left else await self._deliver(records[half:])
            log.warning("%d usage record(s) not recorded: %s", len(records), exc)  # may have arrived: not resent
            return []
        if self._away:
            log.info("the analytics unit is reachable again; waiting usage records sent")
            self._away = False
        return []

    async def aclose(self) -> None:
        await self._finish()
        await self._channel.close()
