"""Kafka down: 503 with Retry-After, never a 202 for an event Kafka does not have;
after Kafka returns, the retried events are all there. Uses a broker of its own
(ports AFORO_TEST_PORT_BASE+592/593) so stopping it leaves the session broker alone."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aforo.events import read_topic
from aforo.settings import Settings
from aforo.stack.kafka import KafkaBroker
from ingest.client import AforoClient, FlushResult
from tests.ingest.conftest import Collector, make_collector

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

_BASE = int(os.environ.get("AFORO_TEST_PORT_BASE", "19000")) + 500


@pytest.fixture(scope="module")
def own_broker(settings: Settings, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[KafkaBroker]:
    home = tmp_path_factory.mktemp("own-kafka")
    kafka = settings.kafka.model_copy(update={"port": _BASE + 92, "controller_port": _BASE + 93})
    broker = KafkaBroker(settings.model_copy(update={"home": home, "kafka": kafka}))
    broker.up()
    yield broker
    broker.down()


def _batch(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"tenant_id": "acme", "metric": "payment", "value": f"{i}.25",
             "idempotency_key": f"{prefix}-{i}"} for i in range(n)]


def _keys_in(broker: KafkaBroker, topic: str) -> list[str]:
    return [r.event["idempotency_key"] for r in read_topic(broker.settings.kafka.bootstrap, topic)
            if r.event is not None]


def _wait_ready(collector: Collector, ready: bool, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while (collector.get("/readyz").status == 200) != ready:
        assert time.monotonic() < deadline, f"/readyz never became {'200' if ready else '503'}"
        time.sleep(0.2)


def test_kafka_down_is_503_and_nothing_is_lost_after_it_returns(
        own_broker: KafkaBroker, ingest_catalog: Path, tmp_path: Path) -> None:
    topic = own_broker.settings.kafka.topic("usage_events").name
    collector, running = make_collector(own_broker.settings, ingest_catalog, topic, tmp_path,
                                        ack_timeout_s=3.0, retry_after_s=2)
    try:
        key = collector.key("acme")
        assert collector.post("/v1/events", _batch("before", 20), key=key).status == 202
        _wait_ready(collector, True)

        own_broker.down()
        started = time.monotonic()
        reply = collector.post("/v1/events", _batch("during", 20), key=key)
        assert reply.status == 503, reply.body
        assert time.monotonic() - started < 10
        assert reply.headers["retry-after"] == "2"
        assert reply.body["error"]["code"] == "unavailable" and reply.body["error"]["retryable"]
        _wait_ready(collector, False)
        assert collector.post("/v1/events", _batch("during", 20), key=key).status == 503

        # The client keeps retrying the same batch (same keys) while Kafka is away...
        client = AforoClient(collector.url, key, backoff_s=0.5, max_backoff_s=2, max_retries=100)
        for event in _batch("client", 50):
            client.track(event["tenant_id"], event["metric"], event["value"],
                         idempotency_key=event["idempotency_key"])
        outcome: dict[str, FlushResult | BaseException] = {}

        def flush() -> None:
            try:
                outcome["result"] = client.flush()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome["result"] = exc
        sender = threading.Thread(target=flush)
        sender.start()
        time.sleep(3)
        assert sender.is_alive(), "the client gave up while Kafka was down"

        # ...and gets through once Kafka is back.
        own_broker.up()
        sender.join(timeout=120)
        client.disconnect()
        result = outcome["result"]
        assert isinstance(result, FlushResult), result
        assert result.accepted == 50 and result.rejected == []
        _wait_ready(collector, True)
        assert collector.post("/v1/events", _batch("during", 20), key=key).status == 202
    finally:
        running.stop()

    keys = _keys_in(own_broker, topic)
    for prefix, n in (("before", 20), ("during", 20), ("client", 50)):
        assert {f"{prefix}-{i}" for i in range(n)} <= set(keys), prefix


def test_shutdown_flushes_what_udp_syslog_queued(own_broker: KafkaBroker, ingest_catalog: Path,
                                                 tmp_path: Path) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"shutdown-{os.getpid()}-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": own_broker.settings.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result()
    del admin
    collector, running = make_collector(own_broker.settings, ingest_catalog, topic, tmp_path,
                                        linger_ms=500)
    line = (b'{"request_id":"r%d","msec":"1795774900.123","request_method":"GET","uri":"/x",'
            b'"status":"200","request_time":"0.001","bytes_sent":"1","request_length":"1",'
            b'"api_key":"ak_acme_demo"}')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(200):
            udp.sendto(b"<190>Nov 27 18:00:00 nginx: " + line % i,
                       ("127.0.0.1", collector.syslog_port))
            time.sleep(0.001)  # UDP: a burst can overflow the socket buffer before it is read
    listener = collector.app.state.syslog
    deadline = time.monotonic() + 10
    while listener.received < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    running.stop()  # linger.ms=500: most are still in the producer's queue here
    assert listener.received == 200
    assert sorted(_keys_in(own_broker, topic)) == sorted(f"r{i}" for i in range(200))
