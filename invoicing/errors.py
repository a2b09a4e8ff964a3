"""The period close's errors. Each names what failed (period, tenant, table,
invoice) and says whether running the same command again can help (`retryable`).
A close that raises has written nothing: no invoice, no number."""

from __future__ import annotations


class InvoicingError(Exception):
    """Base of the close's errors; `retryable` is False unless a subclass says so."""

    retryable = False


class PeriodError(InvoicingError):
    """A period that is malformed, unknown to the data, not started, or not over
    yet when finalization was asked for."""


class InputError(InvoicingError):
    """A Parquet table the close needs is missing or unreadable."""


class TenantError(InvoicingError):
    """A tenant the catalog does not know, or one with no plan in force."""


class RatingError(InvoicingError):
    """A charge the pricing library cannot rate on this period's usage (a negative
    quantity, say): the tenant, period and charge are named."""


class CloseBusy(InvoicingError):
    """Another close holds the billing database; try again when it is done."""

    retryable = True


class InvoiceNotFound(InvoicingError):
    """No invoice (or credit note) with that number or id."""


class RenderError(InvoicingError):
    """A template that does not compile or fails while rendering a document: the
    document, the template file and its line are named."""
