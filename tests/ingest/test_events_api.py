"""/v1/events: Aforo's own events and CloudEvents, read back from Kafka field by field."""

from __future__ import annotations

import time

import pytest

from aforo.events import message_key
from tests.ingest.conftest import Collector, sample

pytestmark = pytest.mark.kafka


def test_a_batch_lands_in_kafka_field_by_field(collector: Collector) -> None:
    key = collector.key("acme", "globex")
    reply = collector.post("/v1/events", sample("events_batch.json"), key=key)
    assert reply.status == 202, reply.body
    assert reply.body["accepted"] == 4 and reply.body["rejected"] == 0
    assert [r["status"] for r in reply.body["results"]] == [202] * 4

    events = collector.by_key()
    assert events["pay_01JDXK6V0Q8"] == {
        "idempotency_key": "pay_01JDXK6V0Q8", "tenant_id": "acme", "source": "collector",
        "event_type": "payment", "event_time": events["pay_01JDXK6V0Q8"]["event_time"],
        "api": None, "route": None, "method": None, "status": None, "latency_ms": None,
        "request_bytes": None, "response_bytes": None, "value": "12.50",
        "properties": {"currency": "EUR", "region": "eu-west-1"},
    }
    assert events["pay_01JDXK6V0Q8"]["event_time"].isoformat() == "2026-11-27T10:15:30.123000+00:00"
    compute = events["job-77f3-0001"]
    assert compute["event_type"] == "compute"
    assert compute["value"] == "0.000000000000000001"
    assert compute["properties"] == {"compute_ms": "1534.250"}  # the number's exact text
    assert compute["event_time"].isoformat() == "2026-11-27T10:15:30+00:00"  # +01:00 to UTC
    # A JSON number with 29 digits survives exactly (a float would keep 17).
    assert events["pay_01JDXK6V0Q9"]["value"] == "12345678901234567890.123456789"
    assert events["pay_01JDXK6V0Q9"]["tenant_id"] == "globex"
    call = events["call-0001"]
    assert (call["api"], call["route"], call["method"], call["status"], call["latency_ms"],
            call["request_bytes"], call["response_bytes"]) == (
        "payments", "/v1/charges", "POST", 201, 48, 312, 1088)
    assert call["event_time"].isoformat() == "2026-11-27T10:16:01.500000+00:00"


def test_the_kafka_key_is_tenant_slash_idempotency_key(collector: Collector) -> None:
    from aforo.events import read_topic

    key = collector.key("acme", "globex")
    assert collector.post("/v1/events", sample("events_batch.json"), key=key).status == 202
    records = list(read_topic(collector.settings.kafka.bootstrap, collector.topic))
    assert {r.key for r in records} == {message_key(r.event) for r in records if r.event}
    assert b"acme/pay_01JDXK6V0Q8" in {r.key for r in records}


def test_one_event_without_timestamp_gets_the_receipt_time(collector: Collector) -> None:
    key = collector.key("acme")
    before = int(time.time() * 1000)
    reply = collector.post("/v1/events", {"tenant_id": "acme", "metric": "payment",
                                          "value": 5, "idempotency_key": "single-1"}, key=key)
    after = int(time.time() * 1000)
    assert reply.status == 202
    assert reply.body == {"accepted": 1, "rejected": 0, "results": [
        {"index": 0, "status": 202, "idempotency_key": "single-1"}]}
    (event,) = collector.events()
    assert before <= int(event["event_time"].timestamp() * 1000) <= after
    assert event["value"] == "5" and event["properties"] == {}


def test_a_batch_accepts_the_valid_and_names_the_bad(collector: Collector) -> None:
    key = collector.key("acme")
    batch = [
        {"tenant_id": "acme", "metric": "payment", "value": "1.00", "idempotency_key": "ok-1"},
        {"tenant_id": "acme", "metric": "payment", "value": "abc", "idempotency_key": "bad-1"},
        {"tenant_id": "acme", "metric": "payment", "value": -3, "idempotency_key": "bad-2"},
        {"tenant_id": "acme", "metric": "payment", "idempotency_key": "bad-3",
         "timestamp": "27/11/2026 10:00"},
        {"tenant_id": "acme", "idempotency_key": "bad-4"},
        {"tenant_id": "acme", "metric": "api_call", "idempotency_key": "bad-5", "status": "200"},
        {"tenant_id": "acme", "metric": "x", "idempotency_key": "bad-6", "colour": "red"},
        {"tenant_id": "acme", "metric": "x", "idempotency_key": "bad-7",
         "properties": {"nested": {"a": 1}}},
        {"tenant_id": "globex", "metric": "payment", "value": 1, "idempotency_key": "bad-8"},
        "not an object",
        {"tenant_id": "acme", "metric": "x", "idempotency_key": "bad-9",
         "timestamp": "2099-01-01T00:00:00Z"},
        {"tenant_id": "acme", "metric": "x", "idempotency_key": "bad-10", "latency_ms": 1.5},
        {"tenant_id": "acme", "metric": "payment", "value": 1.5, "idempotency_key": "ok-2"},
    ]
    reply = collector.post("/v1/events", batch, key=key)
    assert reply.status == 202
    assert reply.body["accepted"] == 2 and reply.body["rejected"] == 11
    results = reply.body["results"]
    errors = {r["index"]: (r["status"], r.get("error", {}).get("field")) for r in results}
    assert errors == {
        0: (202, None), 1: (422, "value"), 2: (422, "value"), 3: (422, "timestamp"),
        4: (422, "metric"), 5: (422, "status"), 6: (422, "colour"),
        7: (422, "properties.nested"), 8: (403, "tenant_id"), 9: (422, "(event)"),
        10: (422, "timestamp"), 11: (422, "latency_ms"), 12: (202, None),
    }
    assert "not a decimal number" in results[1]["error"]["problem"] or \
        "must be a decimal number" in results[1]["error"]["problem"]
    assert results[2]["error"]["problem"] == "must not be negative, got -3"
    assert results[6]["idempotency_key"] == "bad-6"
    assert sorted(collector.by_key()) == ["ok-1", "ok-2"]


def test_a_quantity_the_metering_job_would_dead_letter_is_422(collector: Collector) -> None:
    """`compute_ms` (a sum metric's value field) that is not a non-negative decimal would
    send the whole event to the job's dead letters, its API call unbilled: refused here."""
    key = collector.key("acme")
    call = {"tenant_id": "acme", "metric": "api_call", "status": 200}
    batch = [
        {**call, "idempotency_key": "q-1", "properties": {"compute_ms": "abc"}},
        {**call, "idempotency_key": "q-2", "properties": {"compute_ms": "-5"}},
        {**call, "idempotency_key": "q-3", "properties": {"compute_ms": -5}},
        {**call, "idempotency_key": "q-4", "properties": {"compute_ms": "12.5"}},
        {**call, "idempotency_key": "q-5", "properties": {"region": "abc"}},
        {"tenant_id": "acme", "metric": "payment", "idempotency_key": "q-6",
         "value": "123456789012345678901234567890"},
        {"tenant_id": "acme", "metric": "payment", "idempotency_key": "q-7",
         "value": "12345678901234567890123456.5"},
        {**call, "idempotency_key": "q-8", "properties": {"compute_ms": "1e9999999999999999999"}},
    ]
    reply = collector.post("/v1/events", batch, key=key)
    assert reply.status == 202
    assert [(r["status"], r.get("error")) for r in reply.body["results"]] == [
        (422, {"field": "properties.compute_ms",
               "problem": "not a non-negative decimal number (got 'abc')"}),
        (422, {"field": "properties.compute_ms",
               "problem": "not a non-negative decimal number (got '-5')"}),
        (422, {"field": "properties.compute_ms",
               "problem": "not a non-negative decimal number (got '-5')"}),
        (202, None), (202, None),
        (422, {"field": "value", "problem": "has more than 26 digits before the point: "
                                           "'123456789012345678901234567890'"}),
        (202, None),
        (422, {"field": "properties.compute_ms",  # past Decimal's exponent range, and Java's
               "problem": "not a non-negative decimal number (got '1e9999999999999999999')"}),
    ]
    assert sorted(collector.by_key()) == ["q-4", "q-5", "q-7"]
    single = collector.post("/v1/events", batch[0], key=key)  # the typed path's one event
    assert single.status == 422 and single.body["results"][0]["error"]["field"] == \
        "properties.compute_ms"


def test_a_single_bad_event_answers_422_naming_the_field(collector: Collector) -> None:
    key = collector.key("acme")
    reply = collector.post("/v1/events", {"tenant_id": "acme", "metric": "payment",
                                          "value": True, "idempotency_key": "k"}, key=key)
    assert reply.status == 422
    assert reply.body["results"][0]["error"] == {"field": "value",
                                                 "problem": "must be a number, got bool True"}


def test_a_lone_surrogate_is_422_for_its_event_not_a_500(collector: Collector) -> None:
    """"\\ud800" is valid JSON but no Unicode text: the event is refused naming the field,
    the batch's others go through, and the reply echoes the sender's key as its escape."""
    body = (b'[{"tenant_id": "acme", "metric": "api_call", "idempotency_key": "ok"},'
            b' {"tenant_id": "\\ud800", "metric": "api_call", "idempotency_key": "t"},'
            b' {"tenant_id": "acme", "metric": "api_call", "idempotency_key": "k\\udfff"},'
            b' {"tenant_id": "acme", "metric": "api_call", "idempotency_key": "f", "\\ud800": 1}]')
    reply = collector.post("/v1/events", body, key=collector.key("*"))
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 422, 422, 422]
    assert [r["error"]["field"] for r in reply.body["results"][1:]] == [
        "tenant_id", "idempotency_key", "\ud800"]
    assert reply.body["results"][2]["idempotency_key"] == "k\udfff"
    assert [e["idempotency_key"] for e in collector.events(expect=1)] == ["ok"]
    kong = sample("kong_http_log.json").replace(b'"8a6b1e6c5c2b4e1b9f0a7d3c2e1f0a9b"',
                                                b'"\\udc00"')
    reply = collector.post("/v1/gateways/kong", kong, key=collector.key(gateways=("kong",)))
    assert reply.status == 202 and reply.body["results"][0]["status"] == 422
    assert "not valid Unicode" in reply.body["results"][0]["error"]["problem"]


def test_a_cloudevent_in_structured_mode(collector: Collector) -> None:
    key = collector.key("acme")
    reply = collector.post("/v1/events", sample("cloudevent.json"), key=key,
                           headers={"Content-Type": "application/cloudevents+json; charset=utf-8"})
    assert reply.status == 202, reply.body
    (event,) = collector.events()
    assert event == {
        "idempotency_key": "https://billing.acme.example/payments A234-1234-1234",
        "tenant_id": "acme", "source": "collector", "event_type": "payment",
        "event_time": event["event_time"], "api": None, "route": None, "method": None,
        "status": None, "latency_ms": None, "request_bytes": None, "response_bytes": None,
        "value": "99.99", "properties": {"currency": "USD", "subject": "invoice-2026-0042"},
    }
    assert event["event_time"].isoformat() == "2026-11-27T10:20:00+00:00"


def test_a_cloudevent_source_with_a_blank_is_refused(collector: Collector) -> None:
    """The idempotency key is source + " " + id: two events, ("urn:a b", "c") and ("urn:a",
    "b c"), would share one and the metering job would count only the first."""
    event = {"specversion": "1.0", "type": "payment", "tenantid": "acme", "data": {"value": 1}}
    batch = [{**event, "source": "urn:a b", "id": "c"}, {**event, "source": "urn:a", "id": "b c"}]
    reply = collector.post("/v1/events", batch, key=collector.key("acme"),
                           headers={"Content-Type": "application/cloudevents-batch+json"})
    assert [r["status"] for r in reply.body["results"]] == [422, 202]
    assert reply.body["results"][0]["error"] == {
        "field": "source", "problem": "must be a URI reference, without blanks, got 'urn:a b'"}
    assert [e["idempotency_key"] for e in collector.events()] == ["urn:a b c"]


def test_a_cloudevents_batch(collector: Collector) -> None:
    key = collector.key("globex")
    reply = collector.post("/v1/events", sample("cloudevents_batch.json"), key=key,
                           headers={"Content-Type": "application/cloudevents-batch+json"})
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 202, 422]
    assert reply.body["results"][2]["error"]["field"] == "specversion"
    events = collector.by_key()
    assert sorted(events) == ["urn:globex:jobs evt-1", "urn:globex:jobs evt-2"]
    first = events["urn:globex:jobs evt-1"]
    assert (first["tenant_id"], first["event_type"], first["value"], first["properties"]) == (
        "globex", "compute", "3.75", {"compute_ms": "3750"})
    assert events["urn:globex:jobs evt-2"]["value"] == "1"


def test_a_batch_content_type_needs_an_array(collector: Collector) -> None:
    key = collector.key("acme")
    reply = collector.post("/v1/events", sample("cloudevent.json"), key=key,
                           headers={"Content-Type": "application/cloudevents-batch+json"})
    assert reply.status == 400
    assert reply.body["error"]["field"] == "body"


def test_an_unknown_content_type_is_415(collector: Collector) -> None:
    key = collector.key("acme")
    reply = collector.post("/v1/events", b"tenant_id=acme", key=key,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 415
    assert reply.body["error"]["field"] == "Content-Type"


def test_a_gzipped_batch(collector: Collector) -> None:
    key = collector.key("acme", "globex")
    reply = collector.post("/v1/events", sample("events_batch.json"), key=key, gzipped=True)
    assert reply.status == 202
    assert len(collector.events()) == 4


def test_a_retried_batch_carries_the_same_idempotency_keys(collector: Collector) -> None:
    """Dedup happens downstream (the metering job); here the same keys must reach Kafka."""
    key = collector.key("acme", "globex")
    for _ in range(2):
        assert collector.post("/v1/events", sample("events_batch.json"), key=key).status == 202
    events = collector.events()
    keys = [(e["tenant_id"], e["idempotency_key"]) for e in events]
    assert len(keys) == 8 and len(set(keys)) == 4
    # Each event and its duplicate share the Kafka key, so they share a partition.
    from aforo.events import read_topic
    partitions: dict[bytes | None, set[int]] = {}
    for rec in read_topic(collector.settings.kafka.bootstrap, collector.topic):
        partitions.setdefault(rec.key, set()).add(rec.partition)
    assert all(len(p) == 1 for p in partitions.values())
