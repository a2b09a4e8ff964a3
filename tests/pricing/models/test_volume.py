"""volume at the boundaries: the whole quantity at the one tier it falls in."""

from __future__ import annotations

import pytest

from aforo.pricing import BreakdownLine, parse_price, rate, rate_increment

from ..support import D, summary, volume

PRICE = volume((10, "1"), (100, "0.5"), (None, "0.1"))


@pytest.mark.parametrize(("quantity", "lines"), [
    (0, [("tier-1-unit", 0, 1, 0)]),
    (1, [("tier-1-unit", 1, 1, 1)]),
    (10, [("tier-1-unit", 10, 1, 10)]),
    (D("10.001"), [("tier-2-unit", D("10.001"), D("0.5"), D("5.0005"))]),
    (11, [("tier-2-unit", 11, D("0.5"), D("5.5"))]),
    (100, [("tier-2-unit", 100, D("0.5"), 50)]),
    (101, [("tier-3-unit", 101, D("0.1"), D("10.1"))]),
])
def test_volume_table(quantity, lines) -> None:
    rating = rate(PRICE, quantity)
    assert summary(rating) == lines
    assert rating.amount == lines[0][3]


def test_flat_amount_of_the_tier_at_quantity_zero() -> None:
    price = parse_price({"model": "volume", "tiers": [
        {"up_to": 10, "flat_amount": "20"},
        {"up_to": None, "unit_amount": "1", "flat_amount": "5"},
    ]})
    assert rate(price, 0).lines == (
        BreakdownLine("tier-1-flat", "Tier 1 (up to 10): flat fee", D(1), D(20), D(20)),
    )
    assert rate(price, 12).amount == 17
    assert [line.key for line in rate(price, 12).lines] == ["tier-2-unit", "tier-2-flat"]


def test_an_hour_crossing_into_a_cheaper_tier_is_negative() -> None:
    assert rate_increment(PRICE, 100, 1) == D("10.1") - 50
    assert rate_increment(PRICE, 100, 1) < 0


def test_description() -> None:
    assert rate(PRICE, 11).lines[0].description == "Tier 2 (10 to 100): 11 x 0.5"
