-- Usage the stream could not bill: a tenant with no plan, or a metric its plan
-- does not price. Rated at zero and flagged (billed = false) by the metering job.
SELECT tenant_id, metric,
       MIN(window_start) AS first_hour, MAX(window_start) AS last_hour,
       SUM(quantity) AS quantity, SUM(event_count) AS events
FROM line_items
WHERE NOT billed
GROUP BY tenant_id, metric
ORDER BY tenant_id, metric
