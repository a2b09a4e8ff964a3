-- Take `count` numbers from a sequence (prefix, year) and return the last one.
-- Runs in the finalization's transaction: a rollback takes the numbers back,
-- so numbers are gapless, and a committed number is never handed out again.
INSERT INTO invoice_sequences AS s (prefix, year, issuer, last_number)
VALUES ($prefix, $year, $issuer, $count)
ON CONFLICT (prefix, year) DO UPDATE SET last_number = s.last_number + excluded.last_number
RETURNING last_number
