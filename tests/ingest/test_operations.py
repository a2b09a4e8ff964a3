"""/healthz, /readyz, /metrics and the OpenAPI docs."""

from __future__ import annotations

import pytest

from tests.ingest.conftest import Collector, sample

pytestmark = pytest.mark.kafka


def test_health_and_readiness(collector: Collector) -> None:
    assert collector.get("/healthz").body == {"status": "ok"}
    ready = collector.get("/readyz")
    assert ready.status == 200
    assert ready.body["kafka"] == "ok" and ready.body["topic"] == collector.topic


def test_metrics_count_accepted_and_rejected(collector: Collector) -> None:
    key = collector.key("acme", "globex")
    collector.post("/v1/events", sample("events_batch.json"), key=key)
    collector.post("/v1/events", [{"tenant_id": "acme"}], key=key)
    collector.post("/v1/events", b"{", key=key)
    collector.post("/v1/events", [])
    text = collector.get("/metrics").body
    for line in (
        'aforo_ingest_events_accepted_total{source="collector"} 4.0',
        'aforo_ingest_events_rejected_total{reason="invalid",source="collector"} 1.0',
        'aforo_ingest_events_rejected_total{reason="bad_request",source="collector"} 1.0',
        'aforo_ingest_events_rejected_total{reason="unauthorized",source="collector"} 1.0',
        'aforo_ingest_requests_total{endpoint="events",status="202"} 1.0',
        'aforo_ingest_requests_total{endpoint="events",status="422"} 1.0',
        'aforo_ingest_requests_total{endpoint="events",status="400"} 1.0',
        'aforo_ingest_requests_total{endpoint="events",status="401"} 1.0',
        "aforo_ingest_produce_latency_seconds_count 1.0",
        "aforo_ingest_kafka_up 1.0",
        "aforo_ingest_producer_queue_depth 0.0",
    ):
        assert line in text, line


def test_openapi_documents_every_endpoint(collector: Collector) -> None:
    spec = collector.get("/openapi.json").body
    assert set(spec["paths"]) >= {
        "/v1/events", "/v1/gateways/kong", "/v1/gateways/aws/firehose",
        "/v1/gateways/aws/cloudwatch", "/v1/gateways/azure-apim", "/v1/gateways/apigee",
        "/v1/gateways/nginx", "/healthz", "/readyz", "/metrics"}
    content = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "application/cloudevents+json",
                            "application/cloudevents-batch+json"}
    docs = collector.get("/docs")
    assert docs.status == 200 and "swagger" in docs.body.lower()


def test_other_methods_on_the_ingest_paths_are_refused(collector: Collector) -> None:
    """POSTs are served before FastAPI's router; the rest still reaches it."""
    assert collector.get("/v1/events").status == 405
    assert collector.get("/v1/gateways/kong").status == 405
    assert collector.post("/v1/nothing-here", {}).status == 404
