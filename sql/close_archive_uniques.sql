-- The distinct values of each unique_count metric, per tenant and period, from
-- the event archive (run only when the catalog has such a metric; a distinct
-- count in close_archive.sql would make DuckDB materialize every event twice).
-- `metric_events` is generated from the catalog by invoicing/metric_sql.py.
SELECT p.tenant_id, p.period_start, me.metric, count(DISTINCT me.txt) AS uniques
FROM metric_events AS me
JOIN close_periods AS p
  ON me.tenant_id = p.tenant_id
 AND me.event_time >= p.period_start
 AND me.event_time < p.period_end
WHERE p.reconcile AND me.aggregation = 'unique_count'
GROUP BY ALL
