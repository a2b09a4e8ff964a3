-- The billing database (<home>/billing.duckdb): invoices and credit notes, their
-- lines, the number sequences, and the record of every close run.
-- Exact decimals (quantities, unrounded amounts, tax rates) are kept as text so
-- nothing is rounded by a column type; rounded money is DECIMAL(38, 4), which
-- holds every currency's minor unit (ISO 4217 has none finer than 4 digits).

CREATE TABLE IF NOT EXISTS invoices (
    invoice_id          VARCHAR PRIMARY KEY,  -- tenant/2026-11, tenant/2026-10/credit/2026-11
    kind                VARCHAR NOT NULL,     -- invoice | credit_note
    status              VARCHAR NOT NULL,     -- draft | final
    number              VARCHAR UNIQUE,       -- INV-2026-0042, set only at finalization
    issuer              VARCHAR NOT NULL,
    tenant_id           VARCHAR NOT NULL,
    period_label        VARCHAR NOT NULL,     -- the billing period, 2026-11
    period_start        TIMESTAMPTZ NOT NULL,
    period_end          TIMESTAMPTZ NOT NULL,
    currency            VARCHAR NOT NULL,
    subtotal            DECIMAL(38, 4) NOT NULL,
    tax_rate            VARCHAR NOT NULL,     -- percent, exact
    tax                 DECIMAL(38, 4) NOT NULL,
    total               DECIMAL(38, 4) NOT NULL,
    issue_date          DATE,
    due_date            DATE,                 -- none for a credit note (nothing to pay)
    credits_invoice_id  VARCHAR,              -- a credit note: the invoice it credits
    credits_number      VARCHAR,
    customer            VARCHAR NOT NULL,     -- JSON snapshot: name, email, address, ...
    issuer_details      VARCHAR NOT NULL,     -- JSON snapshot: name, address, payment ...
    catalog_revision    VARCHAR NOT NULL,
    close_label         VARCHAR NOT NULL,     -- the period whose close made this document
    content_hash        VARCHAR NOT NULL,
    drafted_at          TIMESTAMPTZ NOT NULL,
    finalized_at        TIMESTAMPTZ,
    close_run           BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS invoice_lines (
    invoice_id            VARCHAR NOT NULL,
    line_no               INTEGER NOT NULL,
    kind                  VARCHAR NOT NULL,   -- charge | adjustment
    charge_key            VARCHAR NOT NULL,
    description           VARCHAR NOT NULL,
    metric                VARCHAR,
    unit                  VARCHAR NOT NULL,
    quantity              VARCHAR NOT NULL,   -- exact
    price_model           VARCHAR NOT NULL,
    plan_key              VARCHAR NOT NULL,
    plan_version          INTEGER NOT NULL,
    price                 VARCHAR NOT NULL,   -- JSON, as the catalog wrote it
    amount_exact          VARCHAR NOT NULL,   -- unrounded
    amount                DECIMAL(38, 4) NOT NULL,
    breakdown             VARCHAR NOT NULL,   -- JSON: the pricing library's lines
    adjusts_invoice_id    VARCHAR,
    adjusts_number        VARCHAR,
    adjusts_period_label  VARCHAR,
    previous_quantity     VARCHAR,
    previous_amount       DECIMAL(38, 4),
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE IF NOT EXISTS invoice_sequences (
    prefix       VARCHAR NOT NULL,            -- INV, CN (unique across issuers)
    year         INTEGER NOT NULL,
    issuer       VARCHAR NOT NULL,
    last_number  INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE IF NOT EXISTS close_runs (
    run_id            BIGINT PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ NOT NULL,
    period_label      VARCHAR NOT NULL,
    tenant_id         VARCHAR,                -- NULL: every customer
    finalize          BOOLEAN NOT NULL,
    status            VARCHAR NOT NULL,       -- ok | failed
    catalog_revision  VARCHAR,
    created           INTEGER NOT NULL,
    updated           INTEGER NOT NULL,
    unchanged         INTEGER NOT NULL,
    finalized         INTEGER NOT NULL,
    discrepancies     INTEGER NOT NULL,
    message           VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS close_discrepancies (
    run_id        BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    kind          VARCHAR NOT NULL,
    tenant_id     VARCHAR NOT NULL,
    period_start  TIMESTAMPTZ,
    subject       VARCHAR NOT NULL,           -- a charge key or a metric
    api           VARCHAR,
    window_start  TIMESTAMPTZ,
    expected      VARCHAR,
    actual        VARCHAR,
    difference    VARCHAR,
    detail        VARCHAR NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- The inputs an earlier final invoice was last checked against for late usage:
-- a fingerprint of the committed files of its partitions. Unchanged files, no re-read.
CREATE TABLE IF NOT EXISTS adjustment_checks (
    invoice_id   VARCHAR PRIMARY KEY,
    fingerprint  VARCHAR NOT NULL,
    run_id       BIGINT NOT NULL
);
