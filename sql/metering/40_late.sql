-- Behind the watermark: never dropped. Captured with the hourly window each
-- event belongs to; the period close bills them.
INSERT INTO late_events
SELECT tenant_id, metric, api, idempotency_key, event_time,
       FLOOR(event_time TO HOUR) AS window_start, quantity,
       DATE_FORMAT(event_time, 'yyyy-MM-dd') AS event_date
FROM metric_rows
WHERE event_time < CURRENT_WATERMARK(event_time);

CREATE TEMPORARY VIEW on_time_rows AS
SELECT * FROM metric_rows
WHERE CURRENT_WATERMARK(event_time) IS NULL OR event_time >= CURRENT_WATERMARK(event_time);
