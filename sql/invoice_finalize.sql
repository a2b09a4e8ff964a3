-- Drafts become final: number, issue and due date, in the transaction that took
-- the numbers. A document already final is never touched.
UPDATE invoices AS i
SET status = 'final', number = f.number, issue_date = f.issue_date, due_date = f.due_date,
    finalized_at = f.finalized_at, close_run = f.close_run
FROM finalizing AS f
WHERE i.invoice_id = f.invoice_id AND i.status = 'draft'
