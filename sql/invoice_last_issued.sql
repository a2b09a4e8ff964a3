-- The final document issued last (the latest issue date, then the highest number):
-- a finalization cannot be dated before it, so numbers follow issue dates.
SELECT number, issue_date
FROM invoices
WHERE status = 'final' AND issue_date IS NOT NULL
ORDER BY issue_date DESC, number DESC
LIMIT 1
