-- Streamed usage of tenants the catalog does not know (revenue leakage), in the
-- calendar month the metering job files unknown tenants under.
SELECT li.tenant_id, li.metric, sum(li.quantity) AS quantity, count(*) AS line_items
FROM line_items AS li
WHERE li.window_start >= $month_start
  AND li.window_start < $month_end
  AND li.tenant_id NOT IN (SELECT tenant_id FROM close_customers)
GROUP BY ALL
ORDER BY li.tenant_id, li.metric
