"""An invoice preview: each charge rounded once, half-up, as an invoice line; the total the
sum of the rounded charges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from aforo.catalog import load_catalog
from aforo.catalog.preview import preview_invoice
from aforo.pricing import parse_price

from .conftest import EXAMPLE

AT = datetime(2026, 11, 15, tzinfo=UTC)


def test_total_is_the_sum_of_rounded_charges() -> None:
    cat = load_catalog(EXAMPLE)
    charges = cat.plan_charges("free", AT)
    preview = preview_invoice(charges, {"api_calls": Decimal(1001)})
    [api_calls] = preview.charges
    assert [(line.key, line.amount) for line in api_calls.rating.lines] == [
        ("free-units", 0), ("unit", Decimal("0.01"))]
    assert api_calls.rounded == Decimal("0.01")
    assert preview.total == Decimal("0.01") and preview.currency == "USD"


def test_a_charge_is_rounded_once_not_each_of_its_tiers() -> None:
    # as the invoice rounds it (invoicing/build.py): tiers of 0.005 each would round to
    # 0.01 + 0.01, but the invoice line is the charge's exact 0.01
    cat = load_catalog(EXAMPLE)
    charge = cat.plan_charges("growth", AT)[0]
    price = parse_price({"model": "graduated", "tiers": [
        {"up_to": 1, "unit_amount": "0.005"}, {"up_to": None, "unit_amount": "0.005"}]})
    preview = preview_invoice([replace(charge, price=price)], {"api_calls": Decimal(2)})
    assert [line.amount for line in preview.charges[0].rating.lines] == [Decimal("0.005"), Decimal("0.005")]
    assert preview.exact_total == Decimal("0.01") and preview.total == Decimal("0.01")


def test_customer_overrides_and_percentage_values() -> None:
    cat = load_catalog(EXAMPLE)
    initech = preview_invoice(cat.charges_for("initech", AT), {"api_calls": Decimal(150000)})
    assert initech.ratings["api_calls"].amount == 900  # volume: all 150,000 at 0.006
    assert initech.ratings["platform_fee"].amount == 499
    small = preview_invoice(cat.charges_for("hooli", AT),
                            {"payment_value": [Decimal(100), Decimal(50)]})
    # 2.9 % of 150 + 2 x 0.30 = 4.95, raised to the plan's minimum of 10
    assert [line.key for c in small.charges for line in c.rating.lines] == [
        "percentage", "fixed", "minimum-adjustment"]
    assert small.total == Decimal("10.00")
    big = preview_invoice(cat.charges_for("hooli", AT),
                          {"payment_value": [Decimal(100), Decimal(250)]})
    assert big.ratings["payment_fees"].amount == Decimal("10.75")
