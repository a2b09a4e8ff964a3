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


def _event_schema(watermark_delay_s: int | None = None) -> Schema:
    builder = Schema.new_builder()
    for name, dtype in EVENT_COLUMNS:
        builder = builder.column(name, dtype)
    if watermark_delay_s is not None:
        s = int(watermark_delay_s)
        delay = f"INTERVAL '{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}' HOUR TO SECOND"
        builder = builder.watermark("event_time", f"event_time - {delay}")
    return builder.build()


def _kafka_topic(settings: Settings, role: str) -> TableDescriptor.Builder:
    return (TableDescriptor.for_connector("kafka")
            .option("topic", settings.kafka.topic(role).name)
            .option("properties.bootstrap.servers", settings.kafka.bootstrap))


def raw_events(settings: Settings, group_id: str, bounded: bool) -> TableDescriptor:
    """Stage one's input: the bytes of each message, whatever they are."""
    schema = (Schema.new_builder()
              .column("msg_key", DataTypes.BYTES())
              .column("payload", DataTypes.BYTES())
              .column_by_metadata("kafka_topic", DataTypes.STRING(), "topic", True)
              .column_by_metadata("kafka_partition", DataTypes.INT(), "partition", True)
              .column_by_metadata("kafka_offset", DataTypes.BIGINT(), "offset", True)
              .column_by_expression("proc_time", "PROCTIME()")
              .build())
    builder = (_kafka(settings, group_id, bounded).schema(schema)
               .option("key.format", "raw").option("key.fields", "msg_key")
               .option("value.format", "raw").option("value.fields-include", "EXCEPT_KEY"))
    return builder.build()


def _exactly_once(builder: TableDescriptor.Builder, prefix: str) -> TableDescriptor.Builder:
    return (builder.option("sink.delivery-guarantee", "exactly-once")
            .option("sink.transactional-id-prefix", prefix)
            .option("properties.transaction.timeout.ms", "900000"))


def valid_events_sink(settings: Settings, prefix: str) -> TableDescriptor:
    schema = Schema.new_builder().column("msg_key", DataTypes.BYTES()).column("payload", DataTypes.BYTES()).build()
    builder = (_kafka_topic(settings, "valid_events").schema(schema)
               .option("key.format", "raw").option("key.fields", "msg_key")
               .option("value.format", "raw").option("value.fields-include", "EXCEPT_KEY"))
    return _exactly_once(builder, prefix + "-valid").build()


def dead_letters_sink(settings: Settings, prefix: str) -> TableDescriptor:
    schema = (Schema.new_builder()
              .column("msg_key", DataTypes.BYTES())
              .column("payload", DataTypes.BYTES())
              .column_by_metadata("headers", DataTypes.MAP(DataTypes.STRING(), DataTypes.BYTES()), "headers")
              .build())
    builder = (_kafka_topic(settings, "dead_letters").schema(schema)
               .option("key.format", "raw").option("key.fields", "msg_key")
               .option("value.format", "raw").option("value.fields-include", "EXCEPT_KEY"))
    return _exactly_once(builder, prefix + "-dlq").build()


def valid_events(settings: Settings, group_id: str, bounded: bool, watermark_delay_s: int) -> TableDescriptor:
    """Stage two's input: validated, deduplicated events, decoded by Flink's avro format."""
    builder = (_kafka(settings, group_id, bounded)
               .option("topic", settings.kafka.topic("valid_events").name)
               .schema(_event_schema(watermark_delay_s=watermark_delay_s))
               .format("avro"))
    return builder.build()


def parquet_table(settings: Settings, table: str, columns: list[tuple[str, object]],
                  partition: str) -> TableDescriptor:
    """A Parquet table under <home>/data/<table>/<partition>=.../part-*; files appear on checkpoint."""
    schema = Schema.new_builder()
    for name, dtype in columns:
        schema = schema.column(name, dtype)
    return (TableDescriptor.for_connector("filesystem")
            .schema(schema.build())
            .option("path", (settings.data_dir / table).as_uri())
            .option("sink.rolling-policy.file-size", "128MB")
            .partitioned_by(partition)
            .format("parquet")
            .build())


_TS = DataTypes.TIMESTAMP(3)
_Q = DataTypes.DECIMAL(38, 12)
ARCHIVE_COLUMNS = [(n, t) for n, t in EVENT_COLUMNS] + [("event_date", DataTypes.STRING())]
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
