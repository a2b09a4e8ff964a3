-- Each accepted event is on time or late, against the watermark of the moment it
-- is seen (both views read the same operator chain, so an event is exactly one).
-- Late is at or behind the watermark, as Flink's windows judge it: an event at
-- the watermark itself would find its hour fired. After a restore the hourly
-- windows also hold the watermark of the state they restored (the sources start
-- theirs anew), so an event at or behind that one is late too:
-- restored_watermark() (udfs/java RestoredWatermark), NULL on a start without state.
CREATE TEMPORARY VIEW late_valid_events AS
SELECT * FROM valid_events
WHERE event_time <= CURRENT_WATERMARK(event_time) OR event_time <= restored_watermark();

-- row_api: the hourly rows' API ('' when the event has none).
CREATE TEMPORARY VIEW on_time_events AS
SELECT *, COALESCE(api, '') AS row_api FROM valid_events
WHERE (CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time))
  AND (restored_watermark() IS NULL OR event_time > restored_watermark());
