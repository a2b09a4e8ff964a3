"""An invoice preview: each line rounded half-up, the total the sum of rounded lines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from aforo.catalog import load_catalog
from aforo.catalog.preview import preview_invoice
from aforo.pricing import parse_price

from .conftest import EXAMPLE

AT = datetime(2026, 11, 15, tzinfo=UTC)


def test_total_is_the_sum_of_rounded_lines() -> None:
    cat = load_catalog(EXAMPLE)
    charges = cat.plan_charges("free", AT)
    preview = preview_invoice(charges, {"api_calls": Decimal(1001)})
    assert [(pl.line.key, pl.line.amount, pl.rounded) for pl in preview.lines] == [
        ("free-units", 0, Decimal("0.00")), ("unit", Decimal("0.01"), Decimal("0.01")),
    ]
    assert preview.total == Decimal("0.01") and preview.currency == "USD"


def test_rounding_per_line_can_differ_from_rounding_the_sum() -> None:
    cat = load_catalog(EXAMPLE)
    charge = cat.plan_charges("growth", AT)[0]
    price = parse_price({"model": "graduated", "tiers": [
        {"up_to": 1, "unit_amount": "0.005"}, {"up_to": None, "unit_amount": "0.005"}]})
    preview = preview_invoice([replace(charge, price=price)], {"api_calls": Decimal(2)})
    assert preview.exact_total == Decimal("0.01")
    assert [pl.rounded for pl in preview.lines] == [Decimal("0.01"), Decimal("0.01")]
    assert preview.total == Decimal("0.02")


def test_customer_overrides_and_percentage_values() -> None:
    cat = load_catalog(EXAMPLE)
    initech = preview_invoice(cat.charges_for("initech", AT), {"api_calls": Decimal(150000)})
    assert initech.ratings["api_calls"].amount == 900  # volume: all 150,000 at 0.006
    assert initech.ratings["platform_fee"].amount == 499
    small = preview_invoice(cat.charges_for("hooli", AT),
                            {"payment_value": [Decimal(100), Decimal(50)]})
    # 2.9 % of 150 + 2 x 0.30 = 4.95, raised to the plan's minimum of 10
    assert [pl.line.key for pl in small.lines] == ["percentage", "fixed", "minimum-adjustment"]
    assert small.total == Decimal("10.00")
    big = preview_invoice(cat.charges_for("hooli", AT),
                          {"payment_value": [Decimal(100), Decimal(250)]})
    assert big.ratings["payment_fees"].amount == Decimal("10.75")
