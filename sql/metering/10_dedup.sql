-- Stage one: every message gets one verdict from check_event(): the dedup key
-- `event:<tenant>/<idempotency key>`, or `reject:<reason>`.
CREATE TEMPORARY VIEW checked_events AS
SELECT msg_key, payload, kafka_topic, kafka_partition, kafka_offset, proc_time,
       check_event(payload) AS verdict
FROM raw_events;

-- Exactly-once deduplication on (tenant, idempotency key): keep the first copy.
-- Flink's native keep-first operator; keys are remembered for the dedup horizon
-- (table.exec.state.ttl) in RocksDB and snapshotted with every checkpoint, in
-- the same checkpoint that commits the Kafka transaction carrying the event.
INSERT INTO valid_events_sink
SELECT msg_key, payload
FROM (
  SELECT msg_key, payload,
         ROW_NUMBER() OVER (PARTITION BY verdict ORDER BY proc_time ASC) AS row_num
  FROM checked_events
  WHERE verdict LIKE 'event:%'
)
WHERE row_num = 1;

-- Rejected: to the dead-letter topic with the reason and the original bytes.
INSERT INTO dead_letters
SELECT msg_key, payload,
       MAP['aforo.reason', CAST(SUBSTRING(verdict FROM 8) AS BYTES),
           'aforo.source.topic', CAST(kafka_topic AS BYTES),
           'aforo.source.partition', CAST(CAST(kafka_partition AS STRING) AS BYTES),
           'aforo.source.offset', CAST(CAST(kafka_offset AS STRING) AS BYTES)]
FROM checked_events
WHERE verdict LIKE 'reject:%';
