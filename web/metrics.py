"""Prometheus metrics: what the database says now, and what this process measured.

Gauges are read from the database at scrape time, so every process reports the same truth:
open incidents by severity, active freezes, held posts, outbox deliveries by state, pending
timers. Histograms and counters are this process's own (delivery latency, timer lateness,
provider errors by code); scrape every process that sends (``crisis serve``, and each
``crisis worker`` with CRISIS_METRICS_PORT set).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.app import Crisis

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class PrometheusMetrics:
    """The engine's Metrics port, recording into its own registry."""

    def __init__(self, crisis: Crisis | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "crisis_delivery_latency_seconds",
            "From queueing a message to the provider accepting it.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lateness = Histogram(
            "crisis_timer_lateness_seconds",
            "How long after its due time a timer fired.",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "crisis_provider_errors",
            "Failed sends by channel and provider (or adapter) error code.",
            ["channel", "code"],
            registry=self.registry,
        )
        if crisis is not None:
            self.registry.register(DatabaseCollector(crisis))

    def delivered(self, channel: str, seconds: float) -> None:
        self.latency.labels(channel).observe(max(seconds, 0.0))

    def provider_error(self, channel: str, code: str) -> None:
        self.errors.labels(channel, code).inc()

    def timer_fired(self, kind: str, lateness: float) -> None:
        self.lateness.labels(kind).observe(max(lateness, 0.0))

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class DatabaseCollector(Collector):
    """Gauges computed from the database on each scrape (a handful of grouped counts)."""

    def __init__(self, crisis: Crisis) -> None:
        self.crisis = crisis

    def describe(self) -> list[Any]:
        return []  # no samples at registration time: the database may not be up yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.crisis.operations.gauges()
        g = GaugeMetricFamily(
            "crisis_open_incidents", "Incidents not yet resolved, by severity.", labels=["severity"]
        )
        for severity, n in now.open_incidents.items():
            g.add_metric([severity], n)
        yield g
        g = GaugeMetricFamily(
            "crisis_outbox_deliveries", "Outbox rows by state (queue depth).", labels=["state"]
        )
        for state in ("pending", "sending", "sent", "delivered", "failed", "dead", "cancelled"):
            g.add_metric([state], now.deliveries.get(state, 0))
        yield g
        yield GaugeMetricFamily(
            "crisis_active_freezes", "Promo freezes in force.", value=now.active_freezes
        )
        yield GaugeMetricFamily(
            "crisis_held_posts", "Scheduled posts held by a freeze.", value=now.held_posts
        )
        g = GaugeMetricFamily(
            "crisis_timers_pending", "Timers waiting to fire, by kind.", labels=["kind"]
        )
        for kind, n in now.pending_timers.items():
            g.add_metric([kind], n)
        yield g
