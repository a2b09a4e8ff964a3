-- The transactions of the percentage-priced metrics, in event-time order (ties
-- broken by idempotency key), each marked if it arrived late (not streamed).
-- `metric_events` is generated from the catalog (invoicing/metric_sql.py) and
-- put in front of this file as a WITH clause.
SELECT p.tenant_id, p.period_start, me.metric, CAST(me.num AS VARCHAR) AS value,
       late.idempotency_key IS NOT NULL AS late
FROM metric_events AS me
JOIN close_periods AS p
  ON me.tenant_id = p.tenant_id
 AND me.event_time >= p.period_start
 AND me.event_time < p.period_end
JOIN close_value_metrics AS v
  ON v.tenant_id = me.tenant_id AND v.metric = me.metric
LEFT JOIN (SELECT DISTINCT tenant_id, metric, idempotency_key FROM late_events) AS late
  ON late.tenant_id = me.tenant_id
 AND late.metric = me.metric
 AND late.idempotency_key = me.idempotency_key
ORDER BY p.tenant_id, p.period_start, me.metric, me.event_time, me.idempotency_key
