-- Usage nobody is billed for, per tenant and metric, judged by the catalog as it
-- is now (the close invoices by it, not by the catalog the stream rated with):
-- * usage the catalog prices for no one: a tenant that is no customer, or a metric
--   its plan does not price in that period (`priced`: each customer's periods and
--   the metrics its plan prices there, from aforo/leakage.py). A line item the
--   stream rated at zero (billed = false) while the customer was unknown is billed
--   by the close once the catalog knows it, and is then not listed;
-- * a customer's usage before its billing starts (`before_start`): line items and
--   late events before `billing_starts.billed_from`, the start of its period that
--   holds its billing_start. The close invoices no period that ends before it;
-- * billed usage the stream could not rate (`unrated`): a line item without an
--   amount, whose charge or period total overflowed (udfs/rating.py RateWindow).
-- A line item is placed in a period by its hour, a late event by its own time, as
-- the close does (close_line_items.sql, close_late.sql).
WITH usage AS (
    SELECT tenant_id, metric, window_start, window_start AS at_time, quantity,
           event_count AS events, billed AND amount IS NULL AS unrated
    FROM line_items
    UNION ALL
    SELECT tenant_id, metric, window_start, event_time AS at_time, quantity,
           1 AS events, false AS unrated
    FROM late_events
),
judged AS (
    SELECT u.*, p.tenant_id IS NOT NULL AS priced,
           coalesce(u.at_time < s.billed_from, false) AS before_start
    FROM usage AS u
    LEFT JOIN priced AS p
      ON u.tenant_id = p.tenant_id AND u.metric = p.metric
     AND u.at_time >= p.period_start AND u.at_time < p.period_end
    LEFT JOIN billing_starts AS s ON u.tenant_id = s.tenant_id
)
SELECT tenant_id, metric, before_start, unrated,
       MIN(window_start) AS first_hour, MAX(window_start) AS last_hour,
       SUM(quantity) AS quantity, SUM(events) AS events
FROM judged
WHERE NOT priced OR unrated OR before_start
GROUP BY ALL
ORDER BY tenant_id, metric, before_start, unrated
