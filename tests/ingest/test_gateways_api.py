"""Each gateway endpoint with sample payloads of that gateway's documented format,
read back from Kafka field by field."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from aforo.settings import Settings
from tests.ingest.conftest import Collector, make_collector, sample, sample_json

pytestmark = pytest.mark.kafka


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _call(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["tenant_id"], event["source"], event["event_type"], event["api"],
            event["route"], event["method"], event["status"], event["latency_ms"],
            event["request_bytes"], event["response_bytes"], event["value"])


def test_kong_http_log_one_object(collector: Collector) -> None:
    key = collector.key(gateways=("kong",))
    reply = collector.post("/v1/gateways/kong", sample("kong_http_log.json"), key=key)
    assert reply.status == 202, reply.body
    (event,) = collector.events()
    assert event["idempotency_key"] == "8a6b1e6c5c2b4e1b9f0a7d3c2e1f0a9b"
    assert _call(event) == ("acme", "kong", "api_call", "payments", "/payments/v1/charges",
                            "POST", 201, 44, 412, 1137, None)
    assert event["event_time"] == _at(1795774512341)
    assert event["properties"] == {"kong_route": "charges-create", "workspace": "default"}


def test_kong_http_log_batch_reports_the_unknown_consumer(collector: Collector) -> None:
    key = collector.key(gateways=("kong",))
    reply = collector.post("/v1/gateways/kong", sample("kong_http_log_batch.json"), key=key)
    assert reply.status == 202
    assert reply.body["accepted"] == 2 and reply.body["rejected"] == 1
    unknown = reply.body["results"][1]
    assert unknown["status"] == 422
    assert unknown["idempotency_key"] == "0123456789abcdef0123456789abcdef"
    assert unknown["error"]["field"] == "consumer.custom_id"
    assert "'kong-wayne' is not a consumer" in unknown["error"]["problem"]
    events = collector.by_key()
    assert _call(events["f0e1d2c3b4a5968778695a4b3c2d1e0f"]) == (
        "globex", "kong", "api_call", "search", "/search/v1/search", "GET", 200, 13, 96, 5321,
        None)
    # No custom_id: the consumer's id is what the catalog knows.
    assert events["c0ffee00c0ffee00c0ffee00c0ffee00"]["tenant_id"] == "initech"
    metrics = collector.get("/metrics").body
    assert 'aforo_ingest_events_rejected_total{reason="unknown_consumer",source="kong"} 1.0' \
        in metrics
    assert 'aforo_ingest_events_accepted_total{source="kong"} 2.0' in metrics


def test_a_gateway_request_of_refused_records_only_is_still_acknowledged(
        collector: Collector) -> None:
    """Kong's http-log sends a request it sees refused again, for up to its queue's
    max_retry_time, the calls behind it waiting: an unknown consumer, or a call without
    one (key-auth's own 401s), alone in a request, answers 202 with its 422 inside."""
    key = collector.key(gateways=("kong",))
    unknown = sample_json("kong_http_log_batch.json")[1]  # consumer kong-wayne
    anonymous = {k: v for k, v in sample_json("kong_http_log.json").items() if k != "consumer"}
    for record, field in ((unknown, "consumer.custom_id"), (anonymous, "consumer"),
                          ([unknown, anonymous], "consumer.custom_id")):
        reply = collector.post("/v1/gateways/kong", record, key=key)
        assert reply.status == 202, reply.body
        assert reply.body["accepted"] == 0
        assert reply.body["results"][0]["status"] == 422
        assert reply.body["results"][0]["error"]["field"] == field
    assert collector.events() == []
    assert 'aforo_ingest_requests_total{endpoint="kong",status="202"} 3.0' in \
        collector.get("/metrics").body


def test_kong_before_3_5_uses_the_request_id_header_with_the_start(collector: Collector) -> None:
    """The correlation-id plugin keeps a header the caller sent: one id on every call
    must not make them one call, while a resent log record keeps its key."""
    key = collector.key(gateways=("kong",))
    record = sample_json("kong_http_log.json")
    del record["request"]["id"]
    record["request"]["headers"]["kong-request-id"] = "legacy-id-1"
    later = {**record, "started_at": record["started_at"] + 1000}
    reply = collector.post("/v1/gateways/kong", [record, later, record], key=key)
    assert reply.body["accepted"] == 3, reply.body
    started = record["started_at"]
    assert sorted(e["idempotency_key"] for e in collector.events()) == [
        f"legacy-id-1@{started}", f"legacy-id-1@{started}", f"legacy-id-1@{started + 1000}"]
    unstarted = {k: v for k, v in record.items() if k != "started_at"}
    reply = collector.post("/v1/gateways/kong", unstarted, key=key)
    assert reply.body["results"][0]["error"]["field"] == "started_at", reply.body


def _firehose_body(records: list[bytes], request_id: str = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
                   ) -> dict[str, Any]:
    return {"requestId": request_id, "timestamp": 1795774703000,
            "records": [{"data": base64.b64encode(r).decode()} for r in records]}


def test_firehose_delivery_of_api_gateway_access_logs(collector: Collector) -> None:
    key = collector.key(gateways=("aws-apigw",))
    lines = [line + b"\n" for line in sample("apigw_access_logs.ndjson").splitlines()]
    body = json.dumps(_firehose_body(lines)).encode()
    reply = collector.post("/v1/gateways/aws/firehose", body, gzipped=True, headers={
        "X-Amz-Firehose-Access-Key": key,
        "X-Amz-Firehose-Request-Id": "ed4acda5-034f-9f42-bba1-f29aea6d7d8f",
        "X-Amz-Firehose-Protocol-Version": "1.0"})
    assert reply.status == 200
    assert set(reply.body) == {"requestId", "timestamp"}
    assert reply.body["requestId"] == "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
    events = collector.by_key()
    # The third line's API key is not in the catalog: counted, not sent.
    assert sorted(events) == ["Bq3eWFz9oAMFkYQ=", "Bq3eXGCUIAMFq7w="]
    first = events["Bq3eWFz9oAMFkYQ="]
    assert _call(first) == ("initech", "aws-apigw", "api_call", "a1b2c3d4e5", "/charges/{id}",
                            "GET", 200, 27, None, 731, None)
    assert first["event_time"] == _at(1795774700123)
    assert first["properties"] == {"stage": "prod",
                                   "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}
    # No API key id: the authorizer's principalId names the tenant.
    assert events["Bq3eXGCUIAMFq7w="]["tenant_id"] == "umbrella"
    assert events["Bq3eXGCUIAMFq7w="]["status"] == 429


def test_firehose_carrying_cloudwatch_logs(collector: Collector) -> None:
    key = collector.key(gateways=("aws-apigw",))
    records = [gzip.compress(sample("cloudwatch_data_message.json")),
               gzip.compress(sample("cloudwatch_control_message.json"))]
    reply = collector.post("/v1/gateways/aws/firehose", _firehose_body(records),
                           headers={"X-Amz-Firehose-Access-Key": key})
    assert reply.status == 200
    assert sorted(collector.by_key()) == ["Bq3eWFz9oAMFkYQ=", "Bq3eXGCUIAMFq7w="]


def test_a_firehose_record_that_cannot_be_decoded_is_refused_alone(collector: Collector) -> None:
    """Firehose retries a whole delivery on any error but 413: one bad record must not hold
    back (and finally lose) the good ones beside it."""
    key = collector.key(gateways=("aws-apigw",))
    good = sample("apigw_access_logs.ndjson").splitlines()[0] + b"\n"
    body = _firehose_body([good, b"", gzip.compress(b"{not json")])
    body["records"][1]["data"] = "%%% not base64 %%%"
    reply = collector.post("/v1/gateways/aws/firehose", body, headers={"X-Amz-Firehose-Access-Key": key})
    assert reply.status == 200, reply.body
    assert sorted(collector.by_key()) == ["Bq3eWFz9oAMFkYQ="]
    rejected = collector.get("/metrics").body
    assert 'aforo_ingest_events_rejected_total{reason="invalid",source="aws-apigw"} 2.0' in rejected


def test_firehose_wrong_access_key_is_401_in_firehose_shape(collector: Collector) -> None:
    reply = collector.post("/v1/gateways/aws/firehose", _firehose_body([b"{}"]),
                           headers={"X-Amz-Firehose-Access-Key": "afk_nope"})
    assert reply.status == 401
    assert reply.body["requestId"] == "ed4acda5-034f-9f42-bba1-f29aea6d7d8f" or \
        reply.body["requestId"] == ""
    assert "unknown or revoked" in reply.body["errorMessage"]


def test_cloudwatch_logs_subscription(collector: Collector) -> None:
    key = collector.key(gateways=("aws-apigw",))
    data = base64.b64encode(gzip.compress(sample("cloudwatch_data_message.json"))).decode()
    reply = collector.post("/v1/gateways/aws/cloudwatch", {"awslogs": {"data": data}}, key=key)
    assert reply.status == 202, reply.body
    events = collector.by_key()
    assert sorted(events) == ["Bq3eWFz9oAMFkYQ=", "Bq3eXGCUIAMFq7w="]
    # requestTimeEpoch "-": the log event's own timestamp is the event time.
    assert events["Bq3eXGCUIAMFq7w="]["event_time"] == _at(1795774701500)
    assert events["Bq3eWFz9oAMFkYQ="]["event_time"] == _at(1795774700123)


def test_cloudwatch_control_message_is_skipped(collector: Collector) -> None:
    key = collector.key(gateways=("aws-apigw",))
    data = base64.b64encode(gzip.compress(sample("cloudwatch_control_message.json"))).decode()
    reply = collector.post("/v1/gateways/aws/cloudwatch", {"awslogs": {"data": data}}, key=key)
    assert reply.status == 202
    assert reply.body == {"accepted": 0, "rejected": 0, "results": []}
    assert collector.events() == []


def test_azure_apim_send_one_way_request(collector: Collector) -> None:
    key = collector.key(gateways=("azure-apim",))
    reply = collector.post("/v1/gateways/azure-apim", sample("apim_one_way.json"), key=key)
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 422]
    assert reply.body["results"][1]["error"]["field"] == "subscriptionId"
    (event,) = collector.events()
    assert event["idempotency_key"] == "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f"
    assert _call(event) == ("hooli", "azure-apim", "api_call", "payments-api", "/charges",
                            "POST", 201, 38, 377, 912, None)
    assert event["event_time"].isoformat() == "2026-11-27T10:30:00.123000+00:00"
    assert event["properties"] == {"product": "unlimited", "operation": "create-charge",
                                   "region": "West Europe"}


def test_apigee_javascript_policy(collector: Collector) -> None:
    key = collector.key(gateways=("apigee",))
    reply = collector.post("/v1/gateways/apigee", sample("apigee_js.json"), key=key)
    assert reply.status == 202, reply.body
    (event,) = collector.events()
    assert event["idempotency_key"] == "rrt-0a3b2c1d4e5f6a7b8-c-gce-17542-1234567-1"
    assert _call(event) == ("stark", "apigee", "api_call", "maps-v1", "/route", "GET", 200, 97,
                            0, 15402, None)
    assert event["event_time"] == _at(1795774800111)
    assert event["properties"] == {"api_product": "maps-gold", "developer_app": "stark-fleet-app",
                                   "environment": "prod"}


def test_nginx_ndjson_over_http(collector: Collector) -> None:
    key = collector.key(gateways=("nginx",))
    reply = collector.post("/v1/gateways/nginx", sample("nginx_access.ndjson"), key=key,
                           headers={"Content-Type": "application/x-ndjson"})
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 202, 422]
    assert reply.body["results"][2]["error"]["field"] == "api_key"
    events = collector.by_key()
    tile = events["7f3c1e0a9b8d4c2e6f5a4b3c2d1e0f9a"]
    assert _call(tile) == ("acme", "nginx", "api_call", "maps", "/v1/tiles/{z}/{x}/{y}", "GET",
                           200, 8, 211, 23871, None)
    assert tile["event_time"] == _at(1795774900123)
    slow = events["8a4d2f1b0c9e5d3f7a6b5c4d3e2f1a0b"]
    assert (slow["tenant_id"], slow["route"], slow["status"], slow["latency_ms"]) == (
        "hooli", "/v1/classify", 503, 1502)


def test_a_time_or_duration_past_a_long_is_422_not_a_500(collector: Collector) -> None:
    """Refused before any arithmetic: making an int of elapsedMs 1e1000000 took the event
    loop for half a minute, 1e999999999999999999 all the memory."""
    line = json.loads(sample("nginx_access.ndjson").splitlines()[0])
    body = "\n".join(json.dumps({**line, **bad}) for bad in (
        {"request_time": "1e999999999999999999"}, {"msec": "1e400000"})).encode()
    reply = collector.post("/v1/gateways/nginx", body, key=collector.key(gateways=("nginx",)))
    assert reply.status == 202, reply.body
    assert [(r["status"], r["error"]["field"]) for r in reply.body["results"]] == [
        (422, "request_time"), (422, "msec")]
    apim = {**sample_json("apim_one_way.json")[0], "elapsedMs": "ELAPSED"}
    body = json.dumps(apim).replace('"ELAPSED"', "1e400000").encode()
    reply = collector.post("/v1/gateways/azure-apim", body,
                           key=collector.key(gateways=("azure-apim",)))
    assert reply.status == 202
    assert reply.body["results"][0]["error"] == {"field": "elapsedMs",
                                                 "problem": "is out of range, got Decimal('1E+400000')"}
    assert collector.events() == []


def test_nginx_udp_syslog(collector: Collector) -> None:
    lines = sample("nginx_access.ndjson").splitlines()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for line in lines:
            # As nginx sends it: access_log syslog:server=127.0.0.1:PORT,tag=nginx aforo;
            udp.sendto(b"<190>Nov 27 18:00:00 web-1 nginx: " + line,
                       ("127.0.0.1", collector.syslog_port))
        udp.sendto(b"<190>Nov 27 18:00:01 nginx: not json", ("127.0.0.1", collector.syslog_port))
    events = collector.by_key(expect=2)
    assert sorted(events) == ["7f3c1e0a9b8d4c2e6f5a4b3c2d1e0f9a", "8a4d2f1b0c9e5d3f7a6b5c4d3e2f1a0b"]
    assert _call(events["7f3c1e0a9b8d4c2e6f5a4b3c2d1e0f9a"])[:3] == ("acme", "nginx", "api_call")
    metrics = collector.get("/metrics").body
    assert 'aforo_ingest_syslog_datagrams_total{result="accepted"} 2.0' in metrics
    assert 'aforo_ingest_syslog_datagrams_total{result="rejected"} 2.0' in metrics


def test_a_call_with_a_long_path_is_metered_its_route_cut(collector: Collector) -> None:
    """The caller picks its path (nginx's uri, APIM's path, Apigee's pathsuffix) and API
    Gateway's requestId: one over max_text_chars cost the call its metering."""
    long = "/v1/" + "a" * 3000
    nginx = {**json.loads(sample("nginx_access.ndjson").splitlines()[0]), "route": "", "uri": long}
    reply = collector.post("/v1/gateways/nginx", nginx, key=collector.key(gateways=("nginx",)))
    assert reply.body["accepted"] == 1, reply.body
    apigee = {**sample_json("apigee_js.json"), "proxy.pathsuffix": long}
    reply = collector.post("/v1/gateways/apigee", apigee, key=collector.key(gateways=("apigee",)))
    assert reply.body["accepted"] == 1, reply.body
    line = json.loads(sample("apigw_access_logs.ndjson").splitlines()[0])
    line["requestId"] = "r" * 300
    body = {"requestId": "d1", "timestamp": 1, "records": [
        {"data": base64.b64encode(json.dumps(line).encode()).decode()}]}
    reply = collector.post("/v1/gateways/aws/firehose", body,
                           headers={"X-Amz-Firehose-Access-Key": collector.key(
                               gateways=("aws-apigw",))})
    assert reply.status == 200, reply.body
    events = collector.events(expect=3)
    assert sorted(e["source"] for e in events) == ["apigee", "aws-apigw", "nginx"]
    for event in events:
        if event["source"] == "aws-apigw":
            assert event["properties"]["request_id"] == "r" * 256
        else:
            assert event["route"] == long[:2048]


def test_an_nginx_log_format_with_blanks_over_syslog(collector: Collector) -> None:
    """`log_format aforo escape=json '{"request_id": "$request_id", ...}'`, blanks after the
    colons: its datagrams, with and without the host name, are read whole."""
    line = json.loads(sample("nginx_access.ndjson").splitlines()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for header, request_id in ((b"<190>Nov 27 18:00:00 nginx: ", "no-host"),
                                   (b"<190>Nov  7 18:00:00 web-1 nginx: ", "host")):
            message = json.dumps({**line, "request_id": request_id}).encode()
            udp.sendto(header + message, ("127.0.0.1", collector.syslog_port))
    assert sorted(collector.by_key(expect=2)) == ["host", "no-host"]


def test_an_nginx_line_with_a_path_that_is_not_utf8_is_still_metered(
        collector: Collector) -> None:
    """escape=json writes the bytes of `GET /v1/tiles/%ff/1/2` as they came (nginx 1.22
    logs the byte 0xff raw): the call is metered, the byte read as U+FFFD, over UDP and
    HTTP; refusing the line let anyone off metering by adding %ff to a path."""
    line = json.loads(sample("nginx_access.ndjson").splitlines()[0])

    def logged(request_id: str) -> bytes:
        text = json.dumps({**line, "request_id": request_id, "uri": "/v1/tiles/\udcff/1/2",
                           "route": ""}, ensure_ascii=False, separators=(",", ":"))
        return text.encode(errors="surrogateescape")  # the raw byte 0xff

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"<190>Nov 27 18:00:00 nginx: " + logged("udp"),
                   ("127.0.0.1", collector.syslog_port))
    reply = collector.post("/v1/gateways/nginx", logged("http") + b"\n",
                           key=collector.key(gateways=("nginx",)))
    assert reply.body["accepted"] == 1, reply.body
    events = collector.by_key(expect=2)
    assert sorted(events) == ["http", "udp"]
    assert events["udp"]["route"] == events["http"]["route"] == "/v1/tiles/\ufffd/1/2"


def test_a_tenant_key_may_post_gateway_logs_of_its_own_tenant_only(collector: Collector) -> None:
    key = collector.key("globex")
    reply = collector.post("/v1/gateways/kong", sample("kong_http_log_batch.json"), key=key)
    assert reply.status == 202
    assert [r["status"] for r in reply.body["results"]] == [202, 422, 403]
    assert list(collector.by_key()) == ["f0e1d2c3b4a5968778695a4b3c2d1e0f"]


def _reloading_collector(settings: Settings, fresh_topic: str, ingest_catalog: Path,
                         tmp_path: Path) -> tuple[Path, Any, Any]:
    """A collector over a copy of the catalog that it re-reads every 0.2 s."""
    catalog = tmp_path / "catalog"
    shutil.copytree(ingest_catalog, catalog)
    collector, running = make_collector(settings, catalog, fresh_topic, tmp_path / "home",
                                        catalog_reload_s=0.2)
    return catalog, collector, running


def test_a_consumer_added_to_the_catalog_is_known_after_the_reload(
        settings: Settings, kafka: Any, fresh_topic: str, ingest_catalog: Path,
        tmp_path: Path) -> None:
    catalog, collector, running = _reloading_collector(settings, fresh_topic, ingest_catalog, tmp_path)
    try:
        key = collector.key(gateways=("kong",))
        body = sample_json("kong_http_log_batch.json")[1]  # consumer kong-wayne
        assert collector.post("/v1/gateways/kong", body, key=key).body["accepted"] == 0
        path = catalog / "customers" / "stark.yaml"
        data = yaml.safe_load(path.read_text())
        data["gateway_consumers"] = [*data["gateway_consumers"], "kong-wayne"]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        deadline = time.monotonic() + 10
        while collector.post("/v1/gateways/kong", body, key=key).body["accepted"] != 1:
            assert time.monotonic() < deadline, "catalog not reloaded"
            time.sleep(0.2)
        assert collector.events()[0]["tenant_id"] == "stark"
        assert 'aforo_ingest_catalog_reloads_total{result="ok"}' in collector.get("/metrics").body
    finally:
        running.stop()


def test_a_gateway_record_gets_the_quantity_rule_of_a_metric_added_to_the_catalog(
        settings: Settings, kafka: Any, fresh_topic: str, ingest_catalog: Path,
        tmp_path: Path) -> None:
    """Gateway records go through the same check: once a metric sums a property the
    gateway fills with text, its records are refused (not dead-lettered by the job)."""
    catalog, collector, running = _reloading_collector(settings, fresh_topic, ingest_catalog, tmp_path)
    try:
        key = collector.key(gateways=("kong",))
        body = sample_json("kong_http_log.json")  # workspace_name "default"
        assert collector.post("/v1/gateways/kong", body, key=key).body["accepted"] == 1
        (catalog / "metrics" / "workspace_units.yaml").write_text(
            "key: workspace_units\nname: Workspace units\nunit: unit\naggregation: sum\n"
            "value_field: properties.workspace\nsources:\n  - event_type: api_call\n")
        deadline = time.monotonic() + 10
        while (reply := collector.post("/v1/gateways/kong", body, key=key)).body["accepted"]:
            assert time.monotonic() < deadline, "catalog not reloaded"
            time.sleep(0.2)
        assert reply.body["results"][0]["error"] == {
            "field": "properties.workspace",
            "problem": "not a non-negative decimal number (got 'default')"}
        assert len(collector.events()) >= 1
    finally:
        running.stop()
