-- The streamed usage of each period being closed, in one scan of the line items:
-- per tenant, metric and charge, the summed quantity and amount (the hourly
-- F(ptd) - F(ptd - q)), the largest hour, the plan context streaming rated with,
-- and an hourly fingerprint: the quantities weighted by their hour, so moving
-- usage between hours changes it (close_windows.sql then finds the hours).
SELECT p.tenant_id, p.period_start, li.metric, li.charge_key,
       sum(li.quantity) AS total,
       max(li.quantity) AS largest,
       count(*) AS line_items,
       sum(li.quantity * ((epoch_ms(li.window_start) // 3600000) % 997 + 1)) AS fingerprint,
       sum(li.amount) AS amount,
       bool_and(li.billed) AS billed,
       list(DISTINCT li.plan_key) AS plan_keys,
       list(DISTINCT li.plan_version) AS plan_versions,
       list(DISTINCT li.currency) AS currencies,
       count(*) FILTER (
           WHERE li.period_start <> p.period_start OR li.period_end <> p.period_end
       ) AS misfiled
FROM line_items AS li
JOIN close_periods AS p
  ON li.tenant_id = p.tenant_id
 AND li.window_start >= p.period_start
 AND li.window_start < p.period_end
GROUP BY ALL
