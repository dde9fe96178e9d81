"""Prometheus metrics of a unit's RPCs, in a registry of the unit's own."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LABELS = ("grpc_service", "grpc_method")


class RpcMetrics:
    """The standard gRPC server series: started, handled (by code), latency, in flight."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", LABELS, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            (*LABELS, "grpc_code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from start to completion of an RPC.",
            (*LABELS, "grpc_code"),
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "grpc_server_in_flight", "RPCs being handled now.", LABELS, registry=self.registry
        )

    def begin(self, service: str, method: str) -> float:
        self.started.labels(service, method).inc()
        self.in_flight.labels(service, method).inc()
        return time.perf_counter()

    def end(self, service: str, method: str, code: str, started: float) -> None:
        self.in_flight.labels(service, method).dec()
        self.handled.labels(service, method, code).inc()
        self.latency.labels(service, method, code).observe(time.perf_counter() - started)
