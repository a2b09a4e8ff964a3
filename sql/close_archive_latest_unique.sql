-- The period quantities of latest and unique_count metrics, per tenant and
-- period, from the event archive (run only when the catalog has such metrics:
-- a distinct count in close_archive.sql would make DuckDB materialize every
-- event twice): of every event, which the close bills, and of the on-time ones
-- alone (not in late_events), which the stream saw and its charges add up to.
-- A late event can be a tenant's last of the period (the watermark moves with
-- every tenant's events) and bring a value the stream never counted.
-- `metric_events` is generated from the catalog by invoicing/metric_sql.py.
SELECT p.tenant_id, p.period_start, me.metric,
       arg_max(me.num, {'at': me.event_time, 'key': me.idempotency_key})
           FILTER (WHERE me.aggregation = 'latest') AS latest,
       arg_max(me.num, {'at': me.event_time, 'key': me.idempotency_key})
           FILTER (WHERE me.aggregation = 'latest' AND late.idempotency_key IS NULL) AS latest_on_time,
       count(DISTINCT me.txt) FILTER (WHERE me.aggregation = 'unique_count') AS uniques,
       count(DISTINCT me.txt)
           FILTER (WHERE me.aggregation = 'unique_count' AND late.idempotency_key IS NULL) AS uniques_on_time
FROM metric_events AS me
JOIN close_periods AS p
  ON me.tenant_id = p.tenant_id
 AND me.event_time >= p.period_start
 AND me.event_time < p.period_end
LEFT JOIN (SELECT DISTINCT tenant_id, metric, idempotency_key FROM late_events) AS late
  ON late.tenant_id = me.tenant_id
 AND late.metric = me.metric
 AND late.idempotency_key = me.idempotency_key
WHERE p.reconcile
GROUP BY ALL
