"""Prometheus metrics of one app instance (its own registry, so apps never share counters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Metrics:
    registry: Any
    requests: Any
    latency: Any
    batch_size: Any
    predictions: Any
    cpu_seconds: Any
    cost_usd: Any
    events: Any
    model_loads: Any

    @classmethod
    def create(cls) -> Metrics:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=reg,
            requests=Counter(
                "bizmodel_http_requests",
                "HTTP requests",
                ["method", "route", "status"],
                registry=reg,
            ),
            latency=Histogram(
                "bizmodel_http_request_duration_seconds",
                "HTTP request latency",
                ["route"],
                buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=reg,
            ),
            batch_size=Histogram(
                "bizmodel_batch_size",
                "Items per forward pass of the micro-batcher",
                buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                registry=reg,
            ),
            predictions=Counter(
                "bizmodel_predictions", "Predictions served", ["model", "version"], registry=reg
            ),
            cpu_seconds=Counter(
                "bizmodel_compute_cpu_seconds",
                "CPU-seconds spent in inference",
                ["model", "version"],
                registry=reg,
            ),
            cost_usd=Counter(
                "bizmodel_compute_cost_usd",
                "Inference compute cost in USD",
                ["model", "version"],
                registry=reg,
            ),
            events=Counter(
                "bizmodel_events_stored", "Business events stored", ["type"], registry=reg
            ),
            model_loads=Counter(
                "bizmodel_model_loads",
                "Model versions loaded into memory: one that keeps coming back was unloaded "
                "([server] max_loaded_models too low for the traffic)",
                ["model", "version"],
                registry=reg,
            ),
        )

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))
