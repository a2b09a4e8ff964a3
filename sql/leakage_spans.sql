-- Each tenant with streamed usage, and the first and last instant of it: the
-- span over which aforo/leakage.py asks the catalog what is priced.
SELECT tenant_id, min(at_time) AS first_at, max(at_time) AS last_at
FROM (
    SELECT tenant_id, window_start AS at_time FROM line_items
    UNION ALL
    SELECT tenant_id, event_time AS at_time FROM late_events
)
GROUP BY tenant_id
ORDER BY tenant_id
