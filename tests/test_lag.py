"""Consumer-group lag through the real broker: records (not offsets) below an end, and commits
that only move forward."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer

from aforo.lag import advance_committed, committed_offsets, end_offsets, pending_records, records_between

pytestmark = pytest.mark.kafka


def _produce_in_transactions(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    """One transaction per partition: its commit marker takes an offset after the records."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4().hex}"})
    producer.init_transactions()
    for partition, count in per_partition.items():
        producer.begin_transaction()
        for i in range(count):
            producer.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
        producer.commit_transaction()


def test_records_between_counts_records_not_transaction_markers(settings, fresh_topic):
    bootstrap = settings.kafka.bootstrap
    _produce_in_transactions(bootstrap, fresh_topic, {0: 5, 1: 3})
    ends = end_offsets(bootstrap, fresh_topic)
    assert ends == {0: 6, 1: 4, 2: 0}  # each commit marker holds an offset

    assert records_between(bootstrap, fresh_topic, {}, ends) == 8
    assert records_between(bootstrap, fresh_topic, {0: 2, 1: 3}, ends) == 3 + 0
    # From the last record on, only the marker is left: nothing to read.
    assert records_between(bootstrap, fresh_topic, {0: 5, 1: 3, 2: 0}, ends) == 0


def test_advance_committed_moves_a_group_forward_only(settings, fresh_topic):
    bootstrap = settings.kafka.bootstrap
    _produce_in_transactions(bootstrap, fresh_topic, {0: 5, 1: 3, 2: 1})
    ends = end_offsets(bootstrap, fresh_topic)
    group = f"test-{uuid.uuid4().hex[:8]}"
    assert pending_records(bootstrap, fresh_topic, group, ends) == 9

    advance_committed(bootstrap, fresh_topic, group, {0: 4, 1: 4})
    assert committed_offsets(bootstrap, fresh_topic, group, [0, 1, 2]) == {0: 4, 1: 4, 2: 0}
    assert pending_records(bootstrap, fresh_topic, group, ends) == 1 + 1

    advance_committed(bootstrap, fresh_topic, group, {0: 2, 1: 4, 2: 2})
    assert committed_offsets(bootstrap, fresh_topic, group, [0, 1, 2]) == {0: 4, 1: 4, 2: 2}
    assert pending_records(bootstrap, fresh_topic, group, ends) == 1
