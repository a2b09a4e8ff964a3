"""From a customer's HTTP call to a rated line item: collector -> Kafka -> metering job.

A batch retried with the same idempotency keys (what AforoClient does after a
timeout) is counted once downstream.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aforo.settings import PROJECT_ROOT
from ingest.client import AforoClient, wait_listening
from tests.jobs.pipeline import Pipeline, assert_quantities_equal_truth

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def collector(tmp_path, settings, kafka):
    pipeline = Pipeline.create(tmp_path, settings)
    created = pipeline.aforo("keys", "create", "--name", "e2e", "--tenant", "*")
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout[: created.stdout.rindex("}") + 1])["secret"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "aforo", "ingest", "serve", "--port", str(port),
                               "--syslog-port", "0", "--log-level", "warning"],
                              env=pipeline.env(), cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_listening(port, server), server.stderr.read().decode()
    yield pipeline, f"http://127.0.0.1:{port}", secret
    server.terminate()
    server.wait(timeout=30)
    server.stderr.close()


def test_retried_batch_through_collector_is_billed_once(collector):
    pipeline, url, secret = collector
    start = datetime(2026, 11, 3, 9, tzinfo=UTC)
    batch = [{"tenant_id": "hooli", "metric": "payment", "value": f"{10 + i}.{i % 100:02d}",
              "idempotency_key": f"pay-{i:04d}",
              "timestamp": (start + timedelta(seconds=7 * i)).isoformat()} for i in range(300)]
    with AforoClient(url, secret) as client:
        first = client.send(batch)
        retried = client.send(batch)  # the client timed out and sends the same keys again
    assert first.accepted == retried.accepted == 300

    pipeline.run_job()
    on_time, late = pipeline.observed()
    assert {metric for _, metric, _ in on_time} == {"payment_value"}
    billed = sum(on_time.values()) + sum(late.values())
    assert billed == sum(Decimal(e["value"]) for e in batch)
    assert len(pipeline.archived_keys()) == 300


def test_generator_traffic_through_collector_is_metered_exactly(collector):
    """`aforo generate --collector` (what `make demo DEMO_ARGS=--via-collector` does): the
    collector refuses each malformed event naming its field, and bytes that are not an
    event are never posted; every valid event is metered exactly once."""
    pipeline, url, secret = collector
    sent = pipeline.aforo("generate", "-n", "3000", "--seed", "77", "--hours", "6", "--malformed", "0.03",
                          "--collector", url, "--api-key", secret)
    assert sent.returncode == 0, sent.stderr[-3000:]
    report = json.loads(sent.stdout)
    counts, forwarded = report, report["collector_counts"]
    assert forwarded["undecodable"] == counts.get("malformed:truncated", 0) + counts.get("malformed:garbage-bytes", 0)
    expected = {"idempotency_key": counts.get("malformed:empty-key", 0),
                "tenant_id": counts.get("malformed:empty-tenant", 0),
                "timestamp": counts.get("malformed:far-future", 0),
                "value": counts.get("malformed:negative-value", 0)}
    assert forwarded["rejected"] == {k: v for k, v in expected.items() if v}
    assert forwarded["accepted"] == counts["messages"] - counts["malformed"] > 2800

    report = pipeline.run_job()
    assert report["records"] == forwarded["accepted"]
    truth = json.loads(Path(counts["truth"]).read_text())
    assert_quantities_equal_truth(pipeline, truth)
    assert pipeline.dead_letters() == []
