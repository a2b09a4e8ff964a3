"""Prometheus metrics of one collector (a registry of its own, served at /metrics)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, queue_depth: Callable[[], float], kafka_up: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("aforo_ingest_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.accepted = Counter("aforo_ingest_events_accepted",
                                "Events Kafka acknowledged, by source", ["source"], registry=r)
        self.rejected = Counter(
            "aforo_ingest_events_rejected",
            "Events refused, by source and reason (invalid, unknown_consumer, forbidden, "
            "rate_limited, kafka_unavailable, malformed, too_large)",
            ["source", "reason"], registry=r)
        self.produce_latency = Histogram(
            "aforo_ingest_produce_latency_seconds",
            "From producing a request's events to Kafka's last ack",
            buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r)
        self.batch_size = Histogram(
            "aforo_ingest_batch_events", "Events per request",
            buckets=(1, 2, 5, 10, 50, 100, 250, 500, 1000, 5000, 10000), registry=r)
        self.syslog = Counter("aforo_ingest_syslog_datagrams", "UDP syslog datagrams by result",
                              ["result"], registry=r)
        self.lost = Counter("aforo_ingest_syslog_events_lost",
                            "Syslog events Kafka did not take (UDP cannot be answered)", registry=r)
        self.catalog_reloads = Counter("aforo_ingest_catalog_reloads", "Catalog reloads by result",
                                       ["result"], registry=r)
        depth = Gauge("aforo_ingest_producer_queue_depth",
                      "Messages waiting in the producer for Kafka's ack", registry=r)
        depth.set_function(queue_depth)
        up = Gauge("aforo_ingest_kafka_up", "1 when Kafka answers the collector", registry=r)
        up.set_function(kafka_up)

    def on_ack(self, seconds: float, events: int) -> None:
        self.produce_latency.observe(seconds)
