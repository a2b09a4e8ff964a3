"""Prometheus metrics of one collector (a registry of its own, served at /metrics).

With several worker processes (`workers: N`), prometheus_client's multiprocess
mode is on (the supervisor sets PROMETHEUS_MULTIPROC_DIR before the workers
start): each worker writes its values to files there, and a scrape of any worker
reads all of them, counters and histograms summed. The two gauges are refreshed
every second by each worker then, summed (queue depth) or the minimum (Kafka up)
over the live workers; one process reads them at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_DIR", "Metrics"]


class Metrics:
    def __init__(self, queue_depth: Callable[[], float], kafka_up: Callable[[], float]) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_DIR))
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
        self._depth = Gauge("aforo_ingest_producer_queue_depth",
                            "Messages waiting in the producer for Kafka's ack", registry=r,
                            multiprocess_mode="livesum")
        self._up = Gauge("aforo_ingest_kafka_up", "1 when Kafka answers the collector", registry=r,
                         multiprocess_mode="livemin")
        self._queue_depth, self._kafka_up = queue_depth, kafka_up
        if not self.multiprocess:
            self._depth.set_function(queue_depth)
            self._up.set_function(kafka_up)

    def refresh(self) -> None:
        """Write the gauges' current values (multiprocess mode: they are files)."""
        if self.multiprocess:
            self._depth.set(self._queue_depth())
            self._up.set(self._kafka_up())

    def exposition(self) -> bytes:
        """The Prometheus text of this collector: of every worker in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is stopping: drop its live gauges from the sums."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())

    def on_ack(self, seconds: float, events: int) -> None:
        self.produce_latency.observe(seconds)
