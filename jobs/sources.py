"""Kafka tables over the usage-events topic, declared through typed descriptors (no SQL splicing)."""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.table import DataTypes, FormatDescriptor, Schema, TableDescriptor

from aforo.events import SCHEMA_PATH
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


# What the metering job keys and times events by; the event's other fields travel
# as one ROW column, `event`, which the source's format writes as Flink's binary
# row (see sql/metering/10_dedup.sql for why one column). Every field is nullable:
# a rejected message has none.
EVENT_KEY_COLUMNS = ("idempotency_key", "tenant_id", "event_time")
EVENT_ROW = DataTypes.ROW([
    DataTypes.FIELD(name, DataTypes.MAP(DataTypes.STRING(), DataTypes.STRING()) if name == "properties"
                    else dtype.nullable())
    for name, dtype in EVENT_COLUMNS if name not in EVENT_KEY_COLUMNS
])


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


def _watermark(builder: Schema.Builder, delay_s: int) -> Schema.Builder:
    s = int(delay_s)
    delay = f"INTERVAL '{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}' HOUR TO SECOND"
    return builder.watermark("event_time", f"event_time - {delay}")


@dataclass(frozen=True)
class EventRules:
    """What the source's format checks per message (udfs/java: the aforo-usage-event format)."""
    numeric_fields: frozenset[str] = frozenset()
    max_future_s: int = 86400
    # Chaos testing: fail once after this many messages; the marker file makes it once.
    fail_once_after: int = 0
    fail_marker: str = ""


def usage_events(settings: Settings, group_id: str, rules: EventRules, watermark_delay_s: int,
                 bounded: bool = False) -> TableDescriptor:
    """Every message of the usage-events topic, decoded and checked in the source (Java).

    A billable event has `reject_reason` NULL and its fields; anything else has
    the reason and the original bytes (`payload`), for the dead-letter topic.
    """
    schema = (Schema.new_builder().column("msg_key", DataTypes.BYTES())
              .column("idempotency_key", DataTypes.STRING())
              .column("tenant_id", DataTypes.STRING())
              .column("event_time", DataTypes.TIMESTAMP(3).not_null())  # the epoch when rejected
              .column("event", EVENT_ROW)
              .column("reject_reason", DataTypes.STRING())
              .column("payload", DataTypes.BYTES())
              .column_by_metadata("kafka_topic", DataTypes.STRING(), "topic", True)
              .column_by_metadata("kafka_partition", DataTypes.INT(), "partition", True)
              .column_by_metadata("kafka_offset", DataTypes.BIGINT(), "offset", True)
              .column_by_expression("proc_time", "PROCTIME()"))
    fmt = "value.aforo-usage-event."
    builder = (_kafka(settings, group_id, bounded).schema(_watermark(schema, watermark_delay_s).build())
               .option("key.format", "raw").option("key.fields", "msg_key")
               .option("value.format", "aforo-usage-event").option("value.fields-include", "EXCEPT_KEY")
               .option(fmt + "contract", SCHEMA_PATH.read_text())
               .option(fmt + "numeric-fields", ",".join(sorted(rules.numeric_fields)))
               .option(fmt + "max-future-ms", str(rules.max_future_s * 1000)))
    if rules.fail_once_after:
        builder = (builder.option(fmt + "chaos.fail-once-after", str(rules.fail_once_after))
                   .option(fmt + "chaos.fail-marker", rules.fail_marker))
    return builder.build()


def _kafka_topic(settings: Settings, role: str) -> TableDescriptor.Builder:
    return (TableDescriptor.for_connector("kafka")
            .option("topic", settings.kafka.topic(role).name)
            .option("properties.bootstrap.servers", settings.kafka.bootstrap))


def dead_letters_sink(settings: Settings, prefix: str) -> TableDescriptor:
    """The dead-letter topic, written in Kafka transactions committed with each checkpoint."""
    schema = (Schema.new_builder()
              .column("msg_key", DataTypes.BYTES())
              .column("payload", DataTypes.BYTES())
              .column_by_metadata("headers", DataTypes.MAP(DataTypes.STRING(), DataTypes.BYTES()), "headers")
              .build())
    return (_kafka_topic(settings, "dead_letters").schema(schema)
            .option("key.format", "raw").option("key.fields", "msg_key")
            .option("value.format", "raw").option("value.fields-include", "EXCEPT_KEY")
            .option("sink.delivery-guarantee", "exactly-once")
            .option("sink.transactional-id-prefix", prefix + "-dlq")
            .option("properties.transaction.timeout.ms", "900000")
            .build())


def parquet_table(settings: Settings, table: str, columns: list[tuple[str, object]],
                  partition: str, plain_columns: tuple[str, ...] = (),
                  statistics_columns: tuple[str, ...] = ()) -> TableDescriptor:
    """A Parquet table under <home>/data/<table>/<partition>=.../part-*; files appear on checkpoint.

    Written by the aforo-parquet format (udfs/java): Flink's Parquet writer with
    timestamps as INT64 milliseconds (TIMESTAMP(3) exactly, not the deprecated
    INT96), no dictionary for `plain_columns`, whose values are (nearly) all
    distinct, so a dictionary would only be filled and dropped, and, when
    `statistics_columns` is given, min/max statistics for those columns only.
    """
    parquet = FormatDescriptor.for_format("aforo-parquet")
    if plain_columns:
        parquet = parquet.option("plain-columns", ",".join(plain_columns))
    if statistics_columns:
        parquet = parquet.option("statistics-columns", ",".join(statistics_columns))
    schema = Schema.new_builder()
    for name, dtype in columns:
        schema = schema.column(name, dtype)
    return (TableDescriptor.for_connector("filesystem")
            .schema(schema.build())
            .option("path", (settings.data_dir / table).as_uri())
            .option("sink.rolling-policy.file-size", "128MB")
            .partitioned_by(partition)
            .format(parquet.build())
            .build())


_TS = DataTypes.TIMESTAMP(3)
_Q = DataTypes.DECIMAL(38, 12)
ARCHIVE_COLUMNS = [(n, t) for n, t in EVENT_COLUMNS] + [("event_date", DataTypes.STRING())]
# Unique per event, or nearly: written without a dictionary.
ARCHIVE_PLAIN_COLUMNS = ("idempotency_key", "event_time", "value")
# What readers of the archive filter on (the close: a period's event times; a user: a
# tenant); the other columns' min/max would prune nothing and cost a comparison each.
ARCHIVE_STATISTICS_COLUMNS = ("event_time", "tenant_id")
LATE_PLAIN_COLUMNS = ("idempotency_key", "event_time")
LATE_COLUMNS = [
    ("tenant_id", DataTypes.STRING()), ("metric", DataTypes.STRING()), ("api", DataTypes.STRING()),
    ("idempotency_key", DataTypes.STRING()), ("event_time", _TS), ("window_start", _TS),
    ("quantity", _Q), ("event_date", DataTypes.STRING()),
]
LINE_ITEM_COLUMNS = [
    ("tenant_id", DataTypes.STRING()), ("metric", DataTypes.STRING()), ("api", DataTypes.STRING()),
    ("window_start", _TS), ("window_end", _TS), ("quantity", _Q), ("event_count", DataTypes.BIGINT()),
    ("period_start", _TS), ("period_end", _TS), ("period_to_date_quantity", _Q),
    ("amount", DataTypes.DECIMAL(38, 18)), ("currency", DataTypes.STRING()),
    ("charge_key", DataTypes.STRING()), ("plan_key", DataTypes.STRING()),
    ("plan_version", DataTypes.INT()), ("price_model", DataTypes.STRING()),
    ("catalog_revision", DataTypes.STRING()), ("billed", DataTypes.BOOLEAN()),
    ("period", DataTypes.STRING()),
]
