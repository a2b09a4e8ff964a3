"""A small PyFlink SQL job reads the topic with Flink's Avro format and counts per tenant,
on the local MiniCluster and on the standalone cluster (`flink run -py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aforo.events import EventProducer
from aforo.generate import TrafficSpec, run
from aforo.stack.submit import submit

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.slow]


@pytest.fixture
def clean_traffic(settings, fresh_topic):
    spec = TrafficSpec(events=5000, seed=21, malformed_rate=0, duplicate_rate=0.05)
    with EventProducer(settings.kafka.bootstrap, fresh_topic) as producer:
        truth = run(spec, producer, None)
    return fresh_topic, truth["unique_events_per_tenant"]


def test_tenant_counts_on_minicluster_equal_truth(clean_traffic, project_root, tmp_path):
    topic, expected = clean_traffic
    out = tmp_path / "counts.json"
    result = subprocess.run(
        [sys.executable, "-m", "jobs.tenant_counts", "--topic", topic, "--output", str(out)],
        cwd=project_root, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(out.read_text()) == expected


def test_tenant_counts_on_standalone_cluster_equal_truth(clean_traffic, settings, flink_cluster, tmp_path):
    topic, expected = clean_traffic
    out = tmp_path / "counts.json"
    result = submit(settings, _script(),
                    f"localhost:{settings.flink.rest_port}",
                    ["--topic", topic, "--group-id", "cluster-test", "--output", str(out)], timeout_s=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Job has been submitted with JobID" in result.stdout
    assert json.loads(out.read_text()) == expected


def _script():
    from aforo.settings import PROJECT_ROOT
    return PROJECT_ROOT / "jobs" / "tenant_counts.py"
