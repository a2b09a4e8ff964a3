-- The lines of some documents, in order, with their document's currency.
SELECT l.*, d.currency
FROM invoice_lines AS l
JOIN invoices AS d ON d.invoice_id = l.invoice_id
WHERE list_contains($ids, l.invoice_id)
ORDER BY l.invoice_id, l.line_no
