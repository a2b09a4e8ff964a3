-- Each accepted event is on time or late, against the watermark of the moment it
-- is seen (both views read the same operator chain, so an event is exactly one).
-- Late is at or behind the watermark, as Flink's windows judge it: an event at
-- the watermark itself would find its hour fired.
CREATE TEMPORARY VIEW late_valid_events AS
SELECT * FROM valid_events
WHERE event_time <= CURRENT_WATERMARK(event_time);

-- row_api: the hourly rows' API ('' when the event has none).
CREATE TEMPORARY VIEW on_time_events AS
SELECT *, COALESCE(api, '') AS row_api FROM valid_events
WHERE CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time);
