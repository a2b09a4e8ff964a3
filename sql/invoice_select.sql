-- Documents of the billing database, each filter optional (NULL: any).
SELECT *
FROM invoices
WHERE (CAST($tenant AS VARCHAR) IS NULL OR tenant_id = $tenant)
  AND (CAST($label AS VARCHAR) IS NULL OR period_label = $label OR close_label = $label)
  AND (CAST($status AS VARCHAR) IS NULL OR status = $status)
  AND (CAST($ids AS VARCHAR[]) IS NULL OR list_contains($ids, invoice_id))
  AND (CAST($reference AS VARCHAR) IS NULL OR invoice_id = $reference OR number = $reference)
  AND (CAST($since AS TIMESTAMPTZ) IS NULL OR period_start >= $since)
  AND (CAST($before AS TIMESTAMPTZ) IS NULL OR period_start < $before)
ORDER BY period_start, tenant_id, kind DESC, invoice_id
