"""Kafka tables over the usage-events topic, declared through typed descriptors (no SQL splicing)."""

from __future__ import annotations

from pyflink.table import DataTypes, Schema, TableDescriptor

from aforo.settings import Settings

# The Avro contract (schemas/usage_event.avsc) as Flink types. Flink's `avro`
# format derives its reader schema from these: a NOT NULL type is a plain Avro
# type, a nullable one is the union ["null", type], in the .avsc's field order.
EVENT_COLUMNS = [
    ("idempotency_key", DataTypes.STRING().not_null()),
    ("tenant_id", DataTypes.STRING().not_null()),
    ("source", DataTypes.STRING().not_null()),
    ("event_type", DataTypes.STRING().not_null()),
    ("event_time", DataTypes.TIMESTAMP(3).not_null()),
    ("api", DataTypes.STRING()),
    ("route", DataTypes.STRING()),
    ("method", DataTypes.STRING()),
    ("status", DataTypes.INT()),
    ("latency_ms", DataTypes.INT()),
    ("request_bytes", DataTypes.BIGINT()),
    ("response_bytes", DataTypes.BIGINT()),
    ("value", DataTypes.STRING()),
    ("properties", DataTypes.MAP(DataTypes.STRING().not_null(), DataTypes.STRING().not_null()).not_null()),
]


def _kafka(settings: Settings, group_id: str, bounded: bool) -> TableDescriptor.Builder:
    builder = (
        TableDescriptor.for_connector("kafka")
        .option("topic", settings.kafka.topic("usage_events").name)
        .option("properties.bootstrap.servers", settings.kafka.bootstrap)
        .option("properties.group.id", group_id)
        .option("properties.isolation.level", "read_committed")
        .option("scan.startup.mode", "group-offsets")
        .option("properties.auto.offset.reset", "earliest")
    )
    if bounded:
        builder = builder.option("scan.bounded.mode", "latest-offset")
    return builder


def avro_events(settings: Settings, group_id: str, bounded: bool = False,
                topic: str | None = None) -> TableDescriptor:
    """The topic decoded by Flink's own `avro` format (fails on undecodable records)."""
    schema = Schema.new_builder()
    for name, dtype in EVENT_COLUMNS:
        schema = schema.column(name, dtype)
    builder = _kafka(settings, group_id, bounded).schema(schema.build()).format("avro")
    if topic:
        builder = builder.option("topic", topic)
    return builder.build()
