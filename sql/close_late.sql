-- Usage that arrived behind the watermark (never in a line item), per tenant,
-- period and metric: the close bills it with the rest of the period. The
-- fingerprint weighs each quantity by its hour, as close_line_items.sql does.
SELECT p.tenant_id, p.period_start, l.metric,
       sum(l.quantity) AS total,
       max(l.quantity) AS largest,
       count(*) AS events,
       sum(l.quantity * ((epoch_ms(l.window_start) // 3600000) % 997 + 1)) AS fingerprint
FROM late_events AS l
JOIN close_periods AS p
  ON l.tenant_id = p.tenant_id
 AND l.event_time >= p.period_start
 AND l.event_time < p.period_end
GROUP BY ALL
