-- Adjustment lines on final documents that correct the invoices in $ids: what
-- was already billed on top of those invoices.
SELECT l.*, d.currency
FROM invoice_lines AS l
JOIN invoices AS d ON d.invoice_id = l.invoice_id
WHERE d.status = 'final'
  AND l.kind = 'adjustment'
  AND list_contains($ids, l.adjusts_invoice_id)
ORDER BY l.adjusts_invoice_id, d.finalized_at, l.invoice_id, l.line_no
