-- Remove drafts (never a final document) so they can be written again.
DELETE FROM invoices WHERE status = 'draft' AND list_contains($ids, invoice_id)
