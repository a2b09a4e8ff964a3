-- Rating: the billing period and charge of each hourly row, the period-to-date
-- quantity (and transaction count), and the hour's exact charge: F(ptd) - F(ptd - quantity),
-- or, for a price per transaction, the fees of the hour's transactions in
-- event-time order after the period's earlier ones.
CREATE TEMPORARY VIEW hourly_context AS
SELECT window_start, window_end, window_time, tenant_id, metric, api, quantity, event_count,
       transactions, billing_context(tenant_id, metric, window_start) AS ctx
FROM hourly;

CREATE TEMPORARY VIEW hourly_period_to_date AS
SELECT *,
       SUM(quantity) OVER w AS period_to_date_quantity,
       SUM(event_count) OVER w AS period_to_date_count
FROM (
  SELECT window_start, window_end, window_time, tenant_id, metric, api, quantity, event_count,
         transactions,
         ctx.period_start AS period_start, ctx.period_end AS period_end,
         ctx.charge_key AS charge_key, ctx.plan_key AS plan_key, ctx.plan_version AS plan_version,
         ctx.currency AS currency, ctx.price_model AS price_model,
         ctx.catalog_revision AS catalog_revision, ctx.billed AS billed
  FROM hourly_context
)
WINDOW w AS (
  PARTITION BY tenant_id, metric, period_start
  ORDER BY window_time
  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

INSERT INTO line_items
SELECT tenant_id, metric, api, window_start, window_end, quantity, event_count,
       period_start, period_end, period_to_date_quantity,
       CAST(rate_window(tenant_id, metric, window_start,
                        period_to_date_quantity - quantity, quantity,
                        period_to_date_count - event_count, transactions) AS DECIMAL(38, 18)) AS amount,
       currency, charge_key, plan_key, plan_version, price_model, catalog_revision, billed,
       DATE_FORMAT(period_start, 'yyyy-MM-dd') AS `period`
FROM hourly_period_to_date;
