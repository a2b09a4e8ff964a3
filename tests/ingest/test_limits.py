"""Malformed bodies, gzip bombs, huge bodies and batches, long strings, rate limits."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from tests.ingest.conftest import Collector, sample

pytestmark = pytest.mark.kafka


def _event(i: int, **extra: object) -> dict[str, object]:
    return {"tenant_id": "acme", "metric": "payment", "value": "1", "idempotency_key": f"k{i}",
            **extra}


@pytest.mark.parametrize("body, problem", [
    (b'{"tenant_id": "acme",', ("not valid JSON: Expecting property name enclosed in double "
                                "quotes at line 1 column 22")),
    (b"", "not valid JSON: Expecting value at line 1 column 1"),
    (b'{"value": NaN}', "not usable JSON: NaN is not a JSON number"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "not usable JSON: maximum recursion depth exceeded"),
    (b"42", "must be a JSON object or an array of them, got int"),
    (b'{"value": 1e9999999999999999999}',
     "not usable JSON: the number 1e9999999999999999999 is out of range"),
    (b'[{"value": 1}, {"value": 1E-9999999999999999999}]',
     "not usable JSON: the number 1E-9999999999999999999 is out of range"),
])
def test_malformed_json_is_400(collector: Collector, body: bytes, problem: str) -> None:
    reply = collector.post("/v1/events", body, key=collector.key("acme"))
    assert reply.status == 400
    assert reply.body["error"]["field"] == "body"
    assert problem in reply.body["error"]["problem"]
    assert reply.body["error"]["retryable"] is False


@pytest.mark.parametrize("limited_collector", [{"limits": {"max_decoded_bytes": 1_000_000}}],
                         indirect=True)
def test_a_gzip_bomb_stops_at_the_decoded_limit(limited_collector: Collector) -> None:
    bomb = gzip.compress(b"[" + b" " * 1_000_000_000 + b"]", compresslevel=9)
    assert len(bomb) < 1_100_000
    reply = limited_collector.post("/v1/events", bomb, key=limited_collector.key("acme"),
                                   headers={"Content-Encoding": "gzip"})
    assert reply.status == 413
    assert reply.body["error"] == {"code": "payload_too_large", "field": "body",
                                   "problem": "decodes to more than 1000000 bytes",
                                   "retryable": False}


def test_a_gzip_bomb_inside_firehose_records_is_bounded(collector: Collector) -> None:
    import base64

    inner = gzip.compress(b" " * 200_000_000, compresslevel=9)
    body = {"requestId": "r1", "timestamp": 1, "records": [
        {"data": base64.b64encode(inner).decode()}]}
    reply = collector.post("/v1/gateways/aws/firehose", body,
                           headers={"X-Amz-Firehose-Access-Key": collector.key(
                               gateways=("aws-apigw",))})
    assert reply.status == 413
    assert reply.body["errorMessage"].startswith("records[0].data: decodes to more than")


def test_broken_gzip_is_400(collector: Collector) -> None:
    reply = collector.post("/v1/events", gzip.compress(b"[]")[:-6], key=collector.key("acme"),
                           headers={"Content-Encoding": "gzip"})
    assert reply.status == 400
    assert "gzip" in reply.body["error"]["problem"]
    reply = collector.post("/v1/events", b"not gzip at all", key=collector.key("acme"),
                           headers={"Content-Encoding": "gzip"})
    assert reply.status == 400
    assert "not valid gzip data" in reply.body["error"]["problem"]


def test_gzip_members_one_after_the_other_are_one_body(collector: Collector) -> None:
    """`cat a.gz b.gz` is valid gzip: every member is read, none dropped after the first."""
    lines = sample("nginx_access.ndjson").splitlines(keepends=True)
    body = b"".join(gzip.compress(line) for line in lines[:2])
    reply = collector.post("/v1/gateways/nginx", body, key=collector.key(gateways=("nginx",)),
                           headers={"Content-Encoding": "gzip"})
    assert [r["status"] for r in reply.body["results"]] == [202, 202]
    assert len(collector.events(expect=2)) == 2
    events = json.dumps([_event(1), _event(2)]).encode()
    body = gzip.compress(events[:40]) + gzip.compress(events[40:])
    reply = collector.post("/v1/events", body, key=collector.key("acme"),
                           headers={"Content-Encoding": "gzip"})
    assert reply.body["accepted"] == 2
    reply = collector.post("/v1/events", gzip.compress(events) + b"junk",
                           key=collector.key("acme"), headers={"Content-Encoding": "gzip"})
    assert reply.status == 400
    assert reply.body["error"]["problem"] == "4 bytes after the end of the gzip data"


def test_deflate_and_unknown_encodings(collector: Collector) -> None:
    key = collector.key("acme")
    body = zlib.compress(json.dumps(_event(1)).encode())
    assert collector.post("/v1/events", body, key=key,
                          headers={"Content-Encoding": "deflate"}).status == 202
    reply = collector.post("/v1/events", b"{}", key=key, headers={"Content-Encoding": "br"})
    assert reply.status == 415


@pytest.mark.parametrize("limited_collector", [{"limits": {"max_body_bytes": 4096}}],
                         indirect=True)
def test_a_huge_body_is_413(limited_collector: Collector) -> None:
    key = limited_collector.key("acme")
    body = json.dumps([_event(i) for i in range(200)]).encode()
    reply = limited_collector.post("/v1/events", body, key=key)
    assert reply.status == 413
    assert reply.body["error"]["problem"] == f"{len(body)} bytes, at most 4096 allowed"


@pytest.mark.parametrize("limited_collector", [{"limits": {"max_batch_events": 10}}],
                         indirect=True)
def test_a_long_batch_is_413(limited_collector: Collector) -> None:
    reply = limited_collector.post("/v1/events", [_event(i) for i in range(11)],
                                   key=limited_collector.key("acme"))
    assert reply.status == 413
    assert reply.body["error"]["problem"] == "11 events in one batch, at most 10 allowed"
    assert limited_collector.events() == []


def test_long_strings_and_wrong_types_are_422(collector: Collector) -> None:
    key = collector.key("acme")
    batch = [
        _event(1, idempotency_key="k" * 257),
        _event(2, tenant_id=["acme"]),
        _event(3, properties={"p": "x" * 5000}),
        _event(4, properties={f"p{i}": "x" for i in range(65)}),
        _event(5, value="1" * 27),
        _event(6, value="0.0000000000000000001"),
        _event(7, status=700),
        _event(8, request_bytes=-1),
        _event(9, timestamp=1795774512),
        _event(10, route=123),
    ]
    reply = collector.post("/v1/events", batch, key=key)
    assert reply.status == 422
    problems = [(r["error"]["field"], r["error"]["problem"]) for r in reply.body["results"]]
    assert problems == [
        ("idempotency_key", "is 257 characters long, at most 256 allowed"),
        ("tenant_id", "must be a string, got list ['acme']"),
        ("properties.p", "is 5000 characters long, at most 2048 allowed"),
        ("properties", "has 65 entries, at most 64 allowed"),
        ("value", f"has more than 26 digits before the point: '{'1' * 27}'"),
        ("value", "has more than 18 decimal places: '0.0000000000000000001'"),
        ("status", "must be between 100 and 599, got 700"),
        ("request_bytes", "must be between 0 and 9223372036854775807, got -1"),
        ("timestamp", "must be an RFC 3339 time string, got int 1795774512"),
        ("route", "must be a string, got int 123"),
    ]


@pytest.mark.parametrize("limited_collector",
                         [{"rate_limit": {"events_per_s": 10, "burst": 20}}], indirect=True)
def test_rate_limit_is_429_with_retry_after(limited_collector: Collector) -> None:
    key = limited_collector.key("acme")
    first = limited_collector.post("/v1/events", [_event(i) for i in range(15)], key=key)
    assert first.status == 202
    second = limited_collector.post("/v1/events", [_event(i) for i in range(15, 30)], key=key)
    assert second.status == 429
    assert int(second.headers["retry-after"]) >= 1
    assert second.body["error"]["retryable"] is True
    # Another key has its own bucket.
    other = limited_collector.key("acme")
    assert limited_collector.post("/v1/events", [_event(99)], key=other).status == 202
    metrics = limited_collector.get("/metrics").body
    assert 'aforo_ingest_events_rejected_total{reason="rate_limited",source="collector"} 15.0' \
        in metrics


def test_a_batch_over_the_keys_burst_is_413_not_a_retry(collector: Collector) -> None:
    """A key's burst is twice its rate: a larger batch can never get through, so
    waiting and sending it again (429) would never succeed."""
    key = collector.key("*", rate=5)
    reply = collector.post("/v1/events", [_event(i) for i in range(20)], key=key)
    assert reply.status == 413
    assert "retry-after" not in reply.headers
    assert reply.body["error"] == {
        "code": "payload_too_large", "field": "body", "retryable": False,
        "problem": "20 events exceed this key's burst of 10; send at most 10 a request"}
    assert collector.post("/v1/events", [_event(i) for i in range(10)], key=key).status == 202
    assert len(collector.events()) == 10
    metrics = collector.get("/metrics").body
    assert 'aforo_ingest_events_rejected_total{reason="payload_too_large",source="collector"} ' \
        '1.0' in metrics


def test_kong_records_that_are_not_objects(collector: Collector) -> None:
    key = collector.key(gateways=("kong",))
    body = b"[" + sample("kong_http_log.json") + b', 7, "x"]'
    reply = collector.post("/v1/gateways/kong", body, key=key)
    assert [r["status"] for r in reply.body["results"]] == [202, 422, 422]
    assert reply.body["results"][1]["error"] == {"field": "(record)",
                                                 "problem": "must be a JSON object, got int"}


def test_a_bad_ndjson_line_is_refused_alone(collector: Collector) -> None:
    key = collector.key(gateways=("nginx",))
    lines = sample("nginx_access.ndjson").splitlines()
    body = b"\n".join([lines[0], b"{broken", lines[1]]) + b"\n"
    reply = collector.post("/v1/gateways/nginx", body, key=key)
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 422, 202]
    assert reply.body["results"][1]["error"]["field"] == "line 2"
