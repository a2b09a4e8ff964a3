"""A tenant's period rated as a whole, and the invoice lines that show it.

Each charge of the plan version in force at the period's start (overrides
applied) is rated once on the whole period with the pricing library: a quantity
price on the period's quantity (transform, free units, the model, minimum and
maximum, in the library's order), a percentage price on the period's
transactions in event-time order, a flat price once. The invoice line keeps the
library's breakdown as it came and rounds the charge's amount once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from functools import cache

from aforo.catalog import Catalog, Customer, Period, ResolvedCharge
from aforo.pricing import (
    Price,
    PriceError,
    Rating,
    rate,
    rate_increment,
    rate_values,
    rate_values_increment,
    round_money,
)
from aforo.pricing.numbers import CONTEXT
from invoicing.documents import CHARGE, DRAFT, Invoice, InvoiceLine, totals
from invoicing.errors import RatingError
from invoicing.usage import Usage

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class RatedCharge:
    """One charge rated on the whole period, and what its line items should sum to."""

    charge: ResolvedCharge
    unit: str
    quantity: Decimal
    late_quantity: Decimal
    rating: Rating
    streamed_expected: Decimal | None  # None: the charge has no metric, nothing streams


def rate_period(catalog: Catalog, tenant_id: str, period: Period,
                charges: list[ResolvedCharge], usage: Usage) -> list[RatedCharge]:
    out = []
    for charge in charges:
        try:
            out.append(_rate_charge(catalog, tenant_id, period, charge, usage))
        except PriceError as exc:
            raise RatingError(
                f"{tenant_id}, period from {period.start:%Y-%m-%d %H:%M}Z, charge"
                f" {charge.charge_key}: {exc}") from exc
    return out


def _rate_charge(catalog: Catalog, tenant_id: str, period: Period, charge: ResolvedCharge,
                 usage: Usage) -> RatedCharge:
    price = charge.price
    values_model = price.model.rates == "values"
    if charge.metric is None:
        rating = rate_values(price, []) if values_model else rate(price, ZERO)
        return RatedCharge(charge, "", ONE, ZERO, rating, None)
    metric = catalog.metrics[charge.metric]
    if values_model:
        rows = usage.values.get((tenant_id, period.start, charge.metric), [])
        values = [value for value, _ in rows]
        with localcontext(CONTEXT):
            quantity = sum(values, ZERO)
            late = sum((value for value, is_late in rows if is_late), ZERO)
        rating = rate_values(price, values)
        # The stream rated the on-time transactions one hour at a time, in event-time order.
        expected = rate_values_increment(price, 0, ZERO, [value for value, is_late in rows if not is_late])
    else:
        mu = usage.metric(tenant_id, period.start, charge.metric)
        quantity = mu.quantity(metric.aggregation)
        streamed = mu.streamed_quantity(metric.aggregation)
        with localcontext(CONTEXT):
            late = quantity - streamed
        rating = rate(price, quantity)
        expected = rate_increment(price, ZERO, streamed)  # F(streamed) - F(0)
    return RatedCharge(charge, metric.unit, quantity, late, rating, expected)


def charge_line(line_no: int, rated: RatedCharge, currency: str) -> InvoiceLine:
    charge = rated.charge
    return InvoiceLine(
        line_no=line_no, kind=CHARGE, charge_key=charge.charge_key, description=charge.name,
        metric=charge.metric, unit=rated.unit, quantity=rated.quantity,
        price_model=charge.price.model_name, plan_key=charge.plan_key,
        plan_version=charge.plan_version, price=price_json(charge),
        amount_exact=rated.rating.amount, amount=round_money(rated.rating.amount, currency),
        breakdown=rated.rating.lines,
    )


def price_json(charge: ResolvedCharge) -> str:
    return _price_text(charge.price)


@cache
def _price_text(price: Price) -> str:
    """A price as stored on its invoice line (most tenants share their plan's prices)."""
    return json.dumps(price.to_dict(), sort_keys=True, separators=(",", ":"))


def customer_snapshot(customer: Customer) -> dict[str, str]:
    return {"tenant_id": customer.tenant_id, "name": customer.name, "email": customer.email,
            "address": customer.address, "timezone": customer.timezone}


def invoice_id(tenant_id: str, label: str) -> str:
    return f"{tenant_id}/{label}"


def credit_note_id(tenant_id: str, credited_label: str, close_label: str) -> str:
    return f"{tenant_id}/{credited_label}/credit/{close_label}"


def adjustment_invoice_id(tenant_id: str, adjusted_label: str, close_label: str) -> str:
    """An invoice of late usage of its own: the next invoice is in another currency."""
    return f"{tenant_id}/{adjusted_label}/adjustment/{close_label}"


@dataclass(frozen=True, slots=True)
class Header:
    """What every document of one tenant's close shares."""

    customer: Customer
    issuer: str
    issuer_details: dict[str, str]
    catalog_revision: str
    close_label: str


def make_document(header: Header, *, doc_id: str, kind: str, label: str, period: Period,
                  currency: str, lines: list[InvoiceLine], drafted_at: datetime,
                  credits: Invoice | None = None) -> Invoice:
    customer = header.customer
    numbered = tuple(replace(line, line_no=i) for i, line in enumerate(lines, 1))
    # A credit note corrects the invoice it credits, tax included: that invoice's rate.
    tax_rate = credits.tax_rate if credits else customer.tax_rate
    sums = totals(numbered, tax_rate, currency)
    return Invoice(
        invoice_id=doc_id, kind=kind, status=DRAFT, number=None, issuer=header.issuer,
        tenant_id=customer.tenant_id, period_label=label, period_start=period.start,
        period_end=period.end, currency=currency, lines=numbered, tax_rate=tax_rate,
        subtotal=sums.subtotal, tax=sums.tax, total=sums.total,
        customer=customer_snapshot(customer), issuer_details=header.issuer_details,
        catalog_revision=header.catalog_revision, close_label=header.close_label,
        credits_invoice_id=credits.invoice_id if credits else None,
        credits_number=credits.number if credits else None,
        drafted_at=drafted_at,
    ).hashed()


