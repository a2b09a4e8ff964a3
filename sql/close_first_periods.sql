-- The periods of the earliest line-items partitions, per tenant: where scheduled
-- closes start. A partition is named by its period's start in UTC, which east of
-- UTC is the day before the local one, so the label comes from each tenant's zone.
SELECT DISTINCT tenant_id, period_start
FROM first_line_items
