-- Rating: the billing period and charge of each hourly row, the period-to-date
-- quantity (and transaction count) before and after the hour, and the hour's
-- exact charge F(ptd) - F(ptd before), or, for a price per transaction, the fees
-- of the hour's transactions in event-time order after the period's earlier ones.
-- Over a period the charges add up to F(ptd at its end) - F(0).
CREATE TEMPORARY VIEW hourly_context AS
SELECT window_start, window_end, window_time, tenant_id, metric, api, quantity, event_count,
       transactions, last_event, uniques, billing_context(tenant_id, metric, window_start) AS ctx
FROM hourly;

-- Period-to-date by the metric's aggregation: a running sum (count, sum), the
-- running maximum (max), the value of the period's last event so far (latest: the
-- greatest of the hours' "time NUL key NUL value", then the text after its last NUL,
-- as jobs/metering_sql.py reads an hour's), the number of distinct values the
-- period's hours have seen (unique_count: period_distinct_count keeps the period's
-- set, udfs/java). An hour that has two rows (a restart inside it) thus still
-- counts its values once and keeps its last event.
CREATE TEMPORARY VIEW hourly_running AS
SELECT *,
       CASE aggregation
         WHEN 'max' THEN MAX(quantity) OVER w
         WHEN 'latest' THEN CAST(REGEXP_EXTRACT(MAX(last_event) OVER w, CONCAT('[^', CHR(0), ']*$'), 0)
                                 AS DECIMAL(38, 12))
         WHEN 'unique_count' THEN CAST(period_distinct_count(uniques) OVER w AS DECIMAL(38, 12))
         ELSE SUM(quantity) OVER w
       END AS period_to_date_quantity,
       SUM(event_count) OVER w AS period_to_date_count
FROM (
  SELECT window_start, window_end, window_time, tenant_id, metric, api, quantity, event_count,
         transactions, last_event, uniques,
         ctx.period_start AS period_start, ctx.period_end AS period_end,
         ctx.charge_key AS charge_key, ctx.plan_key AS plan_key, ctx.plan_version AS plan_version,
         ctx.currency AS currency, ctx.price_model AS price_model,
         ctx.catalog_revision AS catalog_revision, ctx.billed AS billed,
         ctx.aggregation AS aggregation
  FROM hourly_context
)
WINDOW w AS (
  PARTITION BY tenant_id, metric, period_start
  ORDER BY window_time
  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

-- The period-to-date before the hour: ptd - quantity for a running sum; for a max,
-- latest or unique_count metric the previous hour's (0 for the period's first).
-- Those have one row per tenant and hour (api ''), so LAG's RANGE window has no peers.
CREATE TEMPORARY VIEW hourly_period_to_date AS
SELECT *,
       CASE WHEN aggregation IN ('max', 'latest', 'unique_count')
            THEN COALESCE(LAG(period_to_date_quantity) OVER w, CAST(0 AS DECIMAL(38, 12)))
            ELSE period_to_date_quantity - quantity
       END AS period_to_date_before,
       period_to_date_count - event_count AS count_before
FROM hourly_running
WINDOW w AS (PARTITION BY tenant_id, metric, period_start ORDER BY window_time);

INSERT INTO line_items
SELECT tenant_id, metric, api, window_start, window_end, quantity, event_count,
       period_start, period_end, period_to_date_quantity,
       CAST(rate_window(tenant_id, metric, window_start,
                        period_to_date_before, period_to_date_quantity,
                        count_before, transactions) AS DECIMAL(38, 18)) AS amount,
       currency, charge_key, plan_key, plan_version, price_model, catalog_revision, billed,
       DATE_FORMAT(period_start, 'yyyy-MM-dd') AS `period`
FROM hourly_period_to_date;
