"""Period close and invoices: DuckDB over the metering job's Parquet tables, the
pricing library for the whole period, a billing database for the documents.

    from invoicing import close_period, close_due, Renderer, open_documents

    result = close_period(settings, "2026-11")                 # drafts
    result = close_period(settings, "2026-11", finalize=True)  # final, numbered
    results = close_due(settings)                              # the hourly schedule

    with open_documents(settings) as store:
        invoice = store.find("INV-2026-0001")
    html = Renderer(load_invoicing_config()).html(invoice)

`close` orchestrates; `usage` reads the Parquet tables (sql/close_*.sql);
`build` rates a period and makes the lines; `reconcile` compares streaming with
the close; `adjustments` bills late usage of final periods; `store` keeps the
documents (sql/invoice_*.sql); `render` writes HTML, PDF, JSON and CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aforo.settings import Settings
from invoicing.close import CloseResult, Outcome, close_due, close_period
from invoicing.config import InvoicingConfig, Issuer, load_invoicing_config
from invoicing.documents import Invoice, InvoiceLine, to_dict, to_json
from invoicing.errors import (
    CloseBusy,
    InputError,
    InvoiceNotFound,
    InvoicingError,
    PeriodError,
    RatingError,
    RenderError,
    TenantError,
)
from invoicing.reconcile import Discrepancy
from invoicing.render import FORMATS, Renderer, to_csv
from invoicing.store import BillingStore, database_path


@contextmanager
def open_documents(settings: Settings, timeout_s: float = 60.0) -> Iterator[BillingStore]:
    """The billing database, read-only (waits while a close is writing)."""
    with BillingStore.open(settings, write=False, timeout_s=timeout_s) as store:
        yield store


__all__ = [
    "FORMATS",
    "BillingStore",
    "CloseBusy",
    "CloseResult",
    "Discrepancy",
    "InputError",
    "Invoice",
    "InvoiceLine",
    "InvoiceNotFound",
    "InvoicingConfig",
    "InvoicingError",
    "Issuer",
    "Outcome",
    "PeriodError",
    "RatingError",
    "RenderError",
    "Renderer",
    "TenantError",
    "close_due",
    "close_period",
    "database_path",
    "load_invoicing_config",
    "open_documents",
    "to_csv",
    "to_dict",
    "to_json",
]
