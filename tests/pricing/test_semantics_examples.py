"""Every worked example of docs/pricing.md, amount and breakdown lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aforo.pricing import parse_price, rate, round_money

from .support import D, graduated, per_unit, summary, volume

VOLUME_A = ((5, 7), (10, "6.5"), (None, 6))
STEPS = ((5, 5), (10, 4), (15, 3), (20, 2), (None, 1))

EXAMPLES = [
    pytest.param(
        graduated((10000, "0.01"), (None, "0.005")), 47200, "286",
        [("tier-1-unit", 10000, D("0.01"), 100), ("tier-2-unit", 37200, D("0.005"), 186)],
        id="graduated-47200",
    ),
    pytest.param(per_unit("0.10"), 12, "1.20", [("unit", 12, D("0.10"), D("1.20"))],
                 id="per_unit-12"),
    pytest.param(volume(*VOLUME_A), 1, "7", [("tier-1-unit", 1, 7, 7)], id="volume-a-1"),
    pytest.param(volume(*VOLUME_A), 5, "35", [("tier-1-unit", 5, 7, 35)], id="volume-a-5"),
    pytest.param(volume(*VOLUME_A), 6, "39", [("tier-2-unit", 6, D("6.5"), 39)],
                 id="volume-a-6"),
    pytest.param(volume(*VOLUME_A), 20, "120", [("tier-3-unit", 20, 6, 120)], id="volume-a-20"),
    pytest.param(volume(*VOLUME_A), 25, "150", [("tier-3-unit", 25, 6, 150)], id="volume-a-25"),
    pytest.param(volume(*STEPS), 1, "5", [("tier-1-unit", 1, 5, 5)], id="volume-b-1"),
    pytest.param(volume(*STEPS), 5, "25", [("tier-1-unit", 5, 5, 25)], id="volume-b-5"),
    pytest.param(volume(*STEPS), 6, "24", [("tier-2-unit", 6, 4, 24)], id="volume-b-6"),
    pytest.param(volume(*STEPS), 20, "40", [("tier-4-unit", 20, 2, 40)], id="volume-b-20"),
    pytest.param(volume(*STEPS), 25, "25", [("tier-5-unit", 25, 1, 25)], id="volume-b-25"),
    pytest.param(graduated(*STEPS), 6, "29",
                 [("tier-1-unit", 5, 5, 25), ("tier-2-unit", 1, 4, 4)], id="graduated-steps-6"),
    pytest.param(
        graduated((10000, "0.001"), (100000, "0.0008"), (None, "0.0005")), 150000, "107",
        [("tier-1-unit", 10000, D("0.001"), 10), ("tier-2-unit", 90000, D("0.0008"), 72),
         ("tier-3-unit", 50000, D("0.0005"), 25)],
        id="graduated-150000",
    ),
    pytest.param(volume((10, "0.50"), (None, "0.40")), 101, "40.40",
                 [("tier-2-unit", 101, D("0.40"), D("40.40"))], id="volume-101"),
    pytest.param(volume((10, "0.50"), (1000, "0.40"), (None, "0.30")), 101, "40.40",
                 [("tier-2-unit", 101, D("0.40"), D("40.40"))], id="volume-101-three-tiers"),
    pytest.param(
        parse_price({"model": "package", "package_size": 10, "package_amount": "0.80"}), 4,
        "0.80", [("package", 1, D("0.80"), D("0.80"))], id="package-4",
    ),
    pytest.param(
        parse_price({"model": "package", "package_size": 10, "package_amount": "0.80"}), 11,
        "1.60", [("package", 2, D("0.80"), D("1.60"))], id="package-11",
    ),
    pytest.param(per_unit("5.12345"), 10, "51.2345", [("unit", 10, D("5.12345"), D("51.2345"))],
                 id="per_unit-unrounded"),
    pytest.param(per_unit("0.0005"), 30, "0.015", [("unit", 30, D("0.0005"), D("0.015"))],
                 id="per_unit-twentieth-cent"),
    pytest.param(
        per_unit("10", transform={"divide_by": "1000", "round": "up"}), 1400, "20",
        [("unit", 2, 10, 20)], id="per_unit-transform-up",
    ),
]


@pytest.mark.parametrize(("price", "quantity", "amount", "lines"), EXAMPLES)
def test_semantics_example(price, quantity, amount, lines) -> None:
    rating = rate(price, quantity)
    assert rating.amount == Decimal(amount)
    assert summary(rating) == lines
    assert sum(line.amount for line in rating.lines) == rating.amount


def test_twentieth_of_a_cent_is_exact_then_rounds_on_the_invoice_line() -> None:
    rating = rate(per_unit("0.0005"), 30)
    assert str(rating.amount) == "0.0150"
    assert round_money(rating.amount, "USD") == Decimal("0.02")
    assert str(round_money(rating.amount, "USD")) == "0.02"


def test_graduated_example_descriptions() -> None:
    rating = rate(graduated((10000, "0.01"), (None, "0.005")), 47200)
    assert [line.description for line in rating.lines] == [
        "Tier 1 (up to 10,000): 10,000 x 0.01",
        "Tier 2 (above 10,000): 37,200 x 0.005",
    ]
