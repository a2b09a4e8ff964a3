"""AforoClient: batches, keeps idempotency keys across retries, returns refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from ingest.client import AforoClient, AforoError, AforoUnavailable
from tests.ingest.conftest import Collector


@pytest.mark.kafka
def test_batches_reach_kafka_and_refusals_come_back(collector: Collector) -> None:
    key = collector.key("acme")
    with AforoClient(collector.url, key, batch_size=40) as client:
        for i in range(100):
            client.track("acme", "payment", Decimal("0.10") * i, idempotency_key=f"c-{i}",
                         timestamp=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
                         properties={"n": i})
        assert client.pending == 20  # two batches of 40 went when they filled up
        client.track("globex", "payment", 1, idempotency_key="not-mine")
        result = client.flush()
    assert result.accepted == 20
    assert [(r["status"], r["event"]["idempotency_key"]) for r in result.rejected] == [
        (403, "not-mine")]
    events = collector.by_key()
    assert len(events) == 100
    assert events["c-7"]["value"] == "0.70"
    assert events["c-7"]["properties"] == {"n": "7"}
    assert events["c-7"]["event_time"] == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.mark.kafka
def test_threads_tracking_at_once_lose_nothing(collector: Collector) -> None:
    """Threads whose track() fills a batch flush at the same time: each event is sent,
    none is deleted from the buffer unsent, and the connection is used by one at a time."""
    key = collector.key("acme")
    with AforoClient(collector.url, key, batch_size=5) as client:
        def track(thread: int) -> None:
            for i in range(100):
                client.track("acme", "api_call", idempotency_key=f"t{thread}-{i}")

        threads = [threading.Thread(target=track, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(collector.by_key()) == 600


@pytest.mark.kafka
def test_a_whole_request_refusal_raises(collector: Collector) -> None:
    client = AforoClient(collector.url, "afk_wrong", max_retries=0)
    client.track("acme", "payment", 1)
    with pytest.raises(AforoError, match="HTTP 401"):
        client.flush()
    client.disconnect()
    assert client.pending == 1  # kept: nothing was acknowledged


@pytest.mark.kafka
def test_a_batch_over_the_keys_burst_is_split_not_retried(collector: Collector) -> None:
    """A key of 5 events/s has a burst of 10: the collector answers 413 for 20 events,
    and the client sends halves instead of retrying the same batch until it gives up."""
    key = collector.key("*", rate=5)
    client = AforoClient(collector.url, key, batch_size=100, max_retries=3)
    for i in range(19):
        client.track("acme", "api_call", idempotency_key=f"b-{i}", status=200)
    client.track("acme", "api_call", idempotency_key="b-bad", status=200,
                 properties={"compute_ms": "abc"})
    result = client.flush()
    client.disconnect()
    assert result.accepted == 19 and client.pending == 0
    assert [(r["index"], r["status"], r["event"]["idempotency_key"]) for r in result.rejected] \
        == [(19, 422, "b-bad")]  # its index in the batch sent, not in its half
    assert sorted(collector.by_key()) == sorted(f"b-{i}" for i in range(19))


class _Flaky(BaseHTTPRequestHandler):
    """503 twice, then 202: records the bodies it saw."""

    seen: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        if len(type(self).seen) <= 2:
            self._reply(503, {"error": {"code": "unavailable"}}, {"Retry-After": "0"})
        else:
            self._reply(202, {"accepted": len(body), "rejected": 0, "results": [
                {"index": i, "status": 202} for i in range(len(body))]})

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def flaky() -> Iterator[str]:
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_retry_sends_the_same_idempotency_keys(flaky: str) -> None:
    client = AforoClient(flaky, "k", backoff_s=0.01, compress=False)
    client.sleep = lambda s: None
    keys = [client.track("acme", "api_call") for _ in range(3)]
    assert client.flush().accepted == 3
    client.disconnect()
    assert len(_Flaky.seen) == 3
    assert all([e["idempotency_key"] for e in body] == keys for body in _Flaky.seen)


def test_gives_up_after_max_retries_and_keeps_the_events(flaky: str) -> None:
    client = AforoClient(flaky, "k", max_retries=1, compress=False)
    client.sleep = lambda s: None
    client.track("acme", "api_call")
    with pytest.raises(AforoUnavailable):
        client.flush()
    assert client.pending == 1
    assert client.flush().accepted == 1  # the third attempt is answered 202
    client.disconnect()


def test_connection_refused_is_retried(flaky: str) -> None:
    client = AforoClient("http://127.0.0.1:9", "k", max_retries=2)
    waits: list[float] = []
    client.sleep = waits.append
    client.track("acme", "api_call")
    with pytest.raises(AforoUnavailable):
        client.flush()
    assert len(waits) == 2
