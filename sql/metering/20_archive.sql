-- Every accepted, deduplicated event: the audit trail the period close
-- reconciles against and replays can use.
INSERT INTO events_archive
SELECT idempotency_key, tenant_id, source, event_type, event_time, api, route, `method`,
       status, latency_ms, request_bytes, response_bytes, `value`, properties,
       DATE_FORMAT(event_time, 'yyyy-MM-dd') AS event_date
FROM valid_events;
