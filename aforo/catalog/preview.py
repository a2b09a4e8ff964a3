"""What an invoice for some usage would be: every charge rated, every line rounded.

Rounding happens here, once per breakdown line (half-up to the currency's minor
unit), and the total is the sum of the rounded lines, as the semantics page says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from aforo.catalog.model import ResolvedCharge
from aforo.pricing import BreakdownLine, Rating, rate, rate_values, round_money
from aforo.pricing.numbers import CONTEXT

Usage = Mapping[str, Decimal | Sequence[Decimal]]


@dataclass(frozen=True, slots=True)
class PreviewLine:
    charge_key: str
    charge_name: str
    line: BreakdownLine
    rounded: Decimal


@dataclass(frozen=True, slots=True)
class InvoicePreview:
    currency: str
    ratings: Mapping[str, Rating]
    lines: tuple[PreviewLine, ...]
    exact_total: Decimal
    total: Decimal


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
    at 0) and round each line. All charges must share one currency."""
    currencies = {c.currency for c in charges}
    if len(currencies) > 1:
        raise ValueError(f"charges in more than one currency: {sorted(currencies)}")
    currency = currencies.pop() if currencies else "USD"
    ratings: dict[str, Rating] = {}
    lines: list[PreviewLine] = []
    for charge in charges:
        used = usage.get(charge.metric) if charge.metric else None
        if charge.price.model.rates == "values":
            rating = rate_values(charge.price, _values(used))
        else:
            rating = rate(charge.price, _quantity(used))
        ratings[charge.charge_key] = rating
        lines.extend(
            PreviewLine(charge.charge_key, charge.name, line, round_money(line.amount, currency))
            for line in rating.lines
        )
    with localcontext(CONTEXT):
        exact = sum((r.amount for r in ratings.values()), Decimal(0))
        total = sum((line.rounded for line in lines), Decimal(0))
    return InvoicePreview(currency, ratings, tuple(lines), exact, total)
