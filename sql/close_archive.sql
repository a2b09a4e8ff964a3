-- The event archive of each period being reconciled, per tenant and metric: what
-- line items plus late events must add up to, with the same hourly fingerprint.
-- Each aggregate is computed only for the metrics whose aggregation uses it
-- (latest and unique_count metrics are read by close_archive_latest_unique.sql).
-- `metric_events` (which events feed which metric) is generated from the
-- catalog by invoicing/metric_sql.py and put in front of this file.
SELECT p.tenant_id, p.period_start, me.metric,
       count(*) AS events,
       sum(me.num) AS total,
       max(me.num) FILTER (WHERE me.aggregation = 'max') AS largest,
       sum(me.num * ((epoch_ms(me.event_time) // 3600000) % 997 + 1))
           FILTER (WHERE me.aggregation IN ('count', 'sum')) AS fingerprint
FROM metric_events AS me
JOIN close_periods AS p
  ON me.tenant_id = p.tenant_id
 AND me.event_time >= p.period_start
 AND me.event_time < p.period_end
WHERE p.reconcile
GROUP BY ALL
