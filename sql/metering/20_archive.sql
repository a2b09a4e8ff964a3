-- Every accepted, deduplicated event: the audit trail the period close
-- reconciles against and replays can use.
INSERT INTO events_archive
SELECT idempotency_key, tenant_id, source, event_type, event_time, api, route, `method`,
       status, latency_ms, request_bytes, response_bytes, `value`, properties,
       CAST(CAST(event_time AS DATE) AS STRING) AS event_date  -- yyyy-MM-dd, without a date formatter per event
FROM valid_events;
