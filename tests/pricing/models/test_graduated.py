"""graduated at the boundaries: 0, 1, a tier edge, the edge plus one, fractions, the open tier."""

from __future__ import annotations

import pytest

from aforo.pricing import BreakdownLine, parse_price, rate

from ..support import D, graduated, summary

PRICE = graduated((10, "1"), (100, "0.5"), (None, "0.1"))


@pytest.mark.parametrize(("quantity", "amount", "lines"), [
    (0, 0, [("tier-1-unit", 0, 1, 0)]),
    (1, 1, [("tier-1-unit", 1, 1, 1)]),
    (10, 10, [("tier-1-unit", 10, 1, 10)]),
    (11, D("10.5"), [("tier-1-unit", 10, 1, 10), ("tier-2-unit", 1, D("0.5"), D("0.5"))]),
    (D("10.001"), D("10.0005"),
     [("tier-1-unit", 10, 1, 10), ("tier-2-unit", D("0.001"), D("0.5"), D("0.0005"))]),
    (100, 55, [("tier-1-unit", 10, 1, 10), ("tier-2-unit", 90, D("0.5"), 45)]),
    (101, D("55.1"), [("tier-1-unit", 10, 1, 10), ("tier-2-unit", 90, D("0.5"), 45),
                      ("tier-3-unit", 1, D("0.1"), D("0.1"))]),
    (D("0.5"), D("0.5"), [("tier-1-unit", D("0.5"), 1, D("0.5"))]),
])
def test_graduated_table(quantity, amount, lines) -> None:
    rating = rate(PRICE, quantity)
    assert rating.amount == amount
    assert summary(rating) == lines


def test_decimal_bound_5_001_lies_in_the_next_tier() -> None:
    price = graduated((5, "2"), (None, "1"))
    assert summary(rate(price, "5")) == [("tier-1-unit", 5, 2, 10)]
    assert summary(rate(price, "5.001")) == [
        ("tier-1-unit", 5, 2, 10), ("tier-2-unit", D("0.001"), 1, D("0.001")),
    ]


FLATS = parse_price({"model": "graduated", "tiers": [
    {"up_to": "10", "unit_amount": "1", "flat_amount": "5"},
    {"up_to": "20", "flat_amount": "7"},
    {"up_to": None, "unit_amount": "0.5", "flat_amount": "3"},
]})


@pytest.mark.parametrize(("quantity", "amount", "keys"), [
    (0, 5, ["tier-1-unit", "tier-1-flat"]),  # the first tier is always entered
    (10, 15, ["tier-1-unit", "tier-1-flat"]),
    (D("10.5"), 22, ["tier-1-unit", "tier-1-flat", "tier-2-flat"]),
    (20, 22, ["tier-1-unit", "tier-1-flat", "tier-2-flat"]),
    (21, D("25.5"), ["tier-1-unit", "tier-1-flat", "tier-2-flat", "tier-3-unit", "tier-3-flat"]),
])
def test_flat_amounts_of_every_entered_tier(quantity, amount, keys) -> None:
    rating = rate(FLATS, quantity)
    assert rating.amount == amount
    assert [line.key for line in rating.lines] == keys


def test_whole_breakdown_with_descriptions() -> None:
    assert rate(FLATS, 21).lines == (
        BreakdownLine("tier-1-unit", "Tier 1 (up to 10): 10 x 1", D(10), D(1), D(10)),
        BreakdownLine("tier-1-flat", "Tier 1 (up to 10): flat fee", D(1), D(5), D(5)),
        BreakdownLine("tier-2-flat", "Tier 2 (10 to 20): flat fee", D(1), D(7), D(7)),
        BreakdownLine("tier-3-unit", "Tier 3 (above 20): 1 x 0.5", D(1), D("0.5"), D("0.5")),
        BreakdownLine("tier-3-flat", "Tier 3 (above 20): flat fee", D(1), D(3), D(3)),
    )


def test_single_open_tier() -> None:
    price = graduated((None, "0.25"))
    rating = rate(price, 8)
    assert rating.lines == (BreakdownLine("tier-1-unit", "Tier 1 (all units): 8 x 0.25",
                                          D(8), D("0.25"), D(2)),)
