-- The lines of drafts about to be removed (run before invoice_delete_drafts).
DELETE FROM invoice_lines
WHERE list_contains($ids, invoice_id)
  AND invoice_id IN (SELECT invoice_id FROM invoices WHERE status = 'draft')
