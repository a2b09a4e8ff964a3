-- Line by line, for the (tenant, period, metric) pairs whose totals or hourly
-- fingerprints disagree (close_suspects): every hourly line item next to the
-- late events and the archived events of the same tenant, metric, api and hour.
-- Only the rows that disagree come back (count, sum: line item + late = archive;
-- max: the larger of the two = the archive's largest; a window written more than
-- once is always reported). `metric_events` is generated from the catalog
-- (invoicing/metric_sql.py) and put in front of this file as a WITH clause.
SELECT tenant_id, period_start, metric, api, window_start, m.aggregation,
       li_total, li_largest, li_rows, late_total, late_largest, archive_total, archive_largest
FROM (
    SELECT s.tenant_id, s.period_start, li.metric, li.api, li.window_start,
           sum(li.quantity) AS li_total, max(li.quantity) AS li_largest, count(*) AS li_rows
    FROM line_items AS li
    JOIN close_suspects AS s
      ON li.tenant_id = s.tenant_id AND li.metric = s.metric
     AND li.window_start >= s.period_start AND li.window_start < s.period_end
    GROUP BY ALL
) AS li
FULL JOIN (
    SELECT s.tenant_id, s.period_start, l.metric, COALESCE(l.api, '') AS api, l.window_start,
           sum(l.quantity) AS late_total, max(l.quantity) AS late_largest
    FROM late_events AS l
    JOIN close_suspects AS s
      ON l.tenant_id = s.tenant_id AND l.metric = s.metric
     AND l.event_time >= s.period_start AND l.event_time < s.period_end
    GROUP BY ALL
) AS late USING (tenant_id, period_start, metric, api, window_start)
FULL JOIN (
    -- a metric priced per transaction (by any plan), a max, latest and unique_count
    -- metric stream one row per tenant and hour (api ''): close_metrics.per_tenant
    SELECT s.tenant_id, s.period_start, me.metric,
           CASE WHEN cm.per_tenant THEN '' ELSE me.api END AS api,
           date_trunc('hour', me.event_time) AS window_start,
           sum(me.num) AS archive_total, max(me.num) AS archive_largest
    FROM metric_events AS me
    JOIN close_suspects AS s
      ON me.tenant_id = s.tenant_id AND me.metric = s.metric
     AND me.event_time >= s.period_start AND me.event_time < s.period_end
    JOIN close_metrics AS cm ON cm.metric = me.metric
    GROUP BY ALL
) AS archive USING (tenant_id, period_start, metric, api, window_start)
JOIN close_metrics AS m USING (metric)
WHERE COALESCE(li_rows, 0) > 1
   OR CASE m.aggregation
        WHEN 'max' THEN COALESCE(greatest(li_largest, late_largest), -1)
                        <> COALESCE(archive_largest, -1)
        ELSE COALESCE(li_total, 0) + COALESCE(late_total, 0) <> COALESCE(archive_total, 0)
      END
ORDER BY tenant_id, period_start, metric, window_start, api
