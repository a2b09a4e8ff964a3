-- Behind the watermark: never dropped. Captured, one row per metric the event
-- feeds, with the hourly window it belongs to; the period close bills them.
INSERT INTO late_events
SELECT tenant_id, metric, api, idempotency_key, event_time,
       FLOOR(event_time TO HOUR) AS window_start, quantity,
       CAST(CAST(event_time AS DATE) AS STRING) AS event_date  -- yyyy-MM-dd, without a date formatter per event
FROM late_metric_rows;
