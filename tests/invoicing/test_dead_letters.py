"""The `dead_letters` view reads the real dead-letter topic at query time."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer

from aforo.query import run_query
from aforo.settings import Settings
from aforo.stack.kafka import KafkaBroker


@pytest.mark.kafka
def test_dead_letters_view_reads_the_topic(settings: Settings, kafka: KafkaBroker) -> None:
    topic = settings.kafka.topic("dead_letters").name
    marker = f"test {uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for offset in range(3):
        producer.produce(topic, value=b"\x00not avro" + bytes([offset]), headers=[
            ("aforo.reason", f"{marker}: value: not a decimal".encode()),
            ("aforo.source.topic", b"aforo.usage-events"),
            ("aforo.source.partition", b"2"),
            ("aforo.source.offset", str(1000 + offset).encode()),
        ])
    assert producer.flush(30) == 0
    result = run_query(settings, "SELECT value, reason, source_topic, source_partition,"
                                 " source_offset FROM dead_letters WHERE starts_with(reason, ?)"
                                 " ORDER BY source_offset".replace("?", f"'{marker}'"))
    assert result.rows == [
        (b"\x00not avro" + bytes([i]), f"{marker}: value: not a decimal", "aforo.usage-events",
         2, 1000 + i) for i in range(3)]
