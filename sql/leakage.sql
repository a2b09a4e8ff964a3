-- Usage nobody is billed for, per tenant and metric:
-- * what the stream could not bill: a tenant with no plan, or a metric its plan
--   does not price (rated at zero and flagged, billed = false, by the metering job);
-- * a customer's usage before its billing starts (`before_start`): line items and
--   late events before `billing_starts.billed_from`, the start of its period that
--   holds its billing_start. The close invoices no period that ends before it.
-- * billed usage the stream could not rate (`unrated`): a line item without an
--   amount, whose charge or period total overflowed (udfs/rating.py RateWindow).
-- Late events have no billed flag (NULL), so only the second kind takes them.
WITH usage AS (
    SELECT tenant_id, metric, window_start, quantity, event_count AS events, billed,
           billed AND amount IS NULL AS unrated
    FROM line_items
    UNION ALL
    SELECT tenant_id, metric, window_start, quantity, 1 AS events, NULL AS billed,
           false AS unrated
    FROM late_events
)
SELECT u.tenant_id, u.metric,
       coalesce(u.window_start < s.billed_from, false) AS before_start, u.unrated,
       MIN(u.window_start) AS first_hour, MAX(u.window_start) AS last_hour,
       SUM(u.quantity) AS quantity, SUM(u.events) AS events
FROM usage AS u
LEFT JOIN billing_starts AS s ON u.tenant_id = s.tenant_id
WHERE NOT u.billed OR u.unrated OR u.window_start < s.billed_from
GROUP BY ALL
ORDER BY u.tenant_id, u.metric, before_start, u.unrated
