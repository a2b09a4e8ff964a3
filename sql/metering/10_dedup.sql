-- Every message was decoded and checked in the source by the aforo-usage-event
-- format (udfs/java): reject_reason is NULL for a billable event.

-- Exactly-once deduplication on (tenant, idempotency key): keep the first copy.
-- Flink's native keep-first operator; keys are remembered for the dedup horizon
-- (table.exec.state.ttl) in RocksDB and snapshotted with every checkpoint, in
-- the same checkpoint that commits the Parquet files holding the event. The
-- event-time attribute (and the source's per-partition watermarks) pass through.
-- The event's other fields travel as one ROW column (`event`, written by the
-- format as a binary row): every consumer then needs the same columns, so the
-- planner keeps ONE dedup operator instead of pushing each consumer's projection
-- below it (one copy, with its own state, per branch).
CREATE TEMPORARY VIEW deduplicated AS
SELECT tenant_id, idempotency_key, event_time, e
FROM (
  SELECT tenant_id, idempotency_key, event_time, `event` AS e,
         ROW_NUMBER() OVER (PARTITION BY tenant_id, idempotency_key ORDER BY proc_time ASC) AS row_num
  FROM usage_events
  WHERE reject_reason IS NULL
)
WHERE row_num = 1;

CREATE TEMPORARY VIEW valid_events AS
SELECT idempotency_key, tenant_id, e.source AS source, e.event_type AS event_type, event_time,
       e.api AS api, e.route AS route, e.`method` AS `method`, e.status AS status,
       e.latency_ms AS latency_ms, e.request_bytes AS request_bytes,
       e.response_bytes AS response_bytes, e.`value` AS `value`, e.properties AS properties
FROM deduplicated;

-- Rejected: to the dead-letter topic with the reason and the original bytes.
INSERT INTO dead_letters
SELECT msg_key, payload,
       MAP['aforo.reason', CAST(reject_reason AS BYTES),
           'aforo.source.topic', CAST(kafka_topic AS BYTES),
           'aforo.source.partition', CAST(CAST(kafka_partition AS STRING) AS BYTES),
           'aforo.source.offset', CAST(CAST(kafka_offset AS STRING) AS BYTES)]
FROM usage_events
WHERE reject_reason IS NOT NULL;
