"""Usage that arrives after an invoice is final: never an edit of that invoice.

The earlier period is rated again, whole, with the price stored on the final
invoice's line, on everything known about the period now. The difference from
what was billed so far (the invoice plus earlier adjustments) becomes an
adjustment line for that period: on the customer's next invoice when the period's
net change is an increase, on a credit note for the earlier invoice when it is a
decrease. Rounded amounts are differences of rounded totals, so the rounded sum
billed for a period always equals its whole rating, rounded once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, localcontext

from aforo.catalog import Metric
from aforo.pricing import PriceError, Rating, parse_price, rate, rate_values, round_money
from aforo.pricing.numbers import CONTEXT
from invoicing.documents import ADJUSTMENT, CHARGE, Adjusts, Invoice, InvoiceLine
from invoicing.errors import RatingError
from invoicing.usage import Usage

ZERO = Decimal(0)


def late_adjustments(earlier: Invoice, prior: list[InvoiceLine], usage: Usage,
                     metrics: Mapping[str, Metric]) -> list[InvoiceLine]:
    """Adjustment lines for `earlier` (final), given the adjustment lines already
    final for it (`prior`); [] when nothing changed."""
    out = []
    for line in earlier.lines:
        if line.kind != CHARGE or line.metric is None or line.metric not in metrics:
            continue
        try:
            quantity, rating = _rerate(earlier, line, usage, metrics)
        except PriceError as exc:
            raise RatingError(f"{earlier.tenant_id}, late usage for {earlier.reference},"
                              f" charge {line.charge_key}: {exc}") from exc
        before = [p for p in prior if p.charge_key == line.charge_key]
        with localcontext(CONTEXT):
            billed_quantity = line.quantity + sum((p.quantity for p in before), ZERO)
            billed_exact = line.amount_exact + sum((p.amount_exact for p in before), ZERO)
            billed = line.amount + sum((p.amount for p in before), ZERO)
            if quantity == billed_quantity and rating.amount == billed_exact:
                continue
            amount = round_money(rating.amount, earlier.currency) - billed
            out.append(InvoiceLine(
                line_no=0, kind=ADJUSTMENT, charge_key=line.charge_key,
                description=f"{line.description}: late usage for {earlier.period_label}",
                metric=line.metric, unit=line.unit, quantity=quantity - billed_quantity,
                price_model=line.price_model, plan_key=line.plan_key,
                plan_version=line.plan_version, price=line.price,
                amount_exact=rating.amount - billed_exact, amount=amount,
                breakdown=rating.lines,
                adjusts=Adjusts(earlier.invoice_id, earlier.number or earlier.invoice_id,
                                earlier.period_label, billed_quantity, billed),
            ))
    return out


def _rerate(earlier: Invoice, line: InvoiceLine, usage: Usage,
            metrics: Mapping[str, Metric]) -> tuple[Decimal, Rating]:
    """The earlier period rated again, whole, with the price stored on its line."""
    assert line.metric is not None
    price = parse_price(json.loads(line.price), f"{earlier.invoice_id}.{line.charge_key}")
    if price.model.rates == "values":
        rows = usage.values.get((earlier.tenant_id, earlier.period_start, line.metric), [])
        values = [value for value, _ in rows]
        with localcontext(CONTEXT):
            quantity = sum(values, ZERO)
        return quantity, rate_values(price, values)
    mu = usage.metric(earlier.tenant_id, earlier.period_start, line.metric)
    quantity = mu.quantity(metrics[line.metric].aggregation)
    return quantity, rate(price, quantity)


def net(lines: list[InvoiceLine]) -> Decimal:
    with localcontext(CONTEXT):
        return sum((line.amount for line in lines), ZERO)
