"""What an invoice for some usage would be: every charge rated and rounded as an invoice does.

An invoice has one line per charge (invoicing/build.py), rounded once from the
charge's exact amount (half-up to the currency's minor unit); the charge's
breakdown lines explain it and stay exact. The total is the sum of the rounded
charge lines (docs/pricing.md).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from aforo.catalog.model import ResolvedCharge
from aforo.pricing import PriceError, Rating, rate, rate_values, round_money
from aforo.pricing.numbers import CONTEXT

Usage = Mapping[str, Decimal | Sequence[Decimal]]


@dataclass(frozen=True, slots=True)
class PreviewCharge:
    """One invoice line: the charge's exact rating and its amount rounded once."""

    charge_key: str
    name: str
    rating: Rating
    rounded: Decimal


@dataclass(frozen=True, slots=True)
class InvoicePreview:
    currency: str
    charges: tuple[PreviewCharge, ...]
    exact_total: Decimal
    total: Decimal

    @property
    def ratings(self) -> Mapping[str, Rating]:
        return {c.charge_key: c.rating for c in self.charges}


def _quantity(used: Decimal | Sequence[Decimal] | None) -> Decimal:
    if used is None:
        return Decimal(0)
    if isinstance(used, Decimal):
        return used
    with localcontext(CONTEXT):
        return sum(used, Decimal(0))


def _values(used: Decimal | Sequence[Decimal] | None) -> Sequence[Decimal]:
    if used is None:
        return ()
    return (used,) if isinstance(used, Decimal) else used


def preview_invoice(charges: Sequence[ResolvedCharge], usage: Usage) -> InvoicePreview:
    """Rate each charge on the usage of its metric (a quantity, or the ordered
    transaction values for a percentage price; a charge without a metric is rated
    at 0) and round each charge once. All charges must share one currency. PriceError
    for usage a charge cannot rate, or charges too long to add up exactly."""
    currencies = {c.currency for c in charges}
    if len(currencies) > 1:
        raise ValueError(f"charges in more than one currency: {sorted(currencies)}")
    currency = currencies.pop() if currencies else "USD"
    rated: list[PreviewCharge] = []
    for charge in charges:
        used = usage.get(charge.metric) if charge.metric else None
        if charge.price.model.rates == "values":
            rating = rate_values(charge.price, _values(used))
        else:
            rating = rate(charge.price, _quantity(used))
        rated.append(PreviewCharge(charge.charge_key, charge.name, rating,
                                   round_money(rating.amount, currency)))
    try:
        with localcontext(CONTEXT):
            exact = sum((c.rating.amount for c in rated), Decimal(0))
            total = sum((c.rounded for c in rated), Decimal(0))
    except decimal.DecimalException:
        keys = ", ".join(c.charge_key for c in rated)
        raise PriceError(f"total: the charges ({keys}) cannot be added up exactly in 60"
                         " significant digits") from None
    return InvoicePreview(currency, tuple(rated), exact, total)
