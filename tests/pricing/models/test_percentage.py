"""percentage: free allowance (whichever limit first), partial coverage, clamps."""

from __future__ import annotations

from typing import Any

import pytest

from aforo.pricing import BreakdownLine, parse_price, rate_values, rate_values_increment

from ..support import D


def pct(**fields: Any):
    return parse_price({"model": "percentage", **fields})


@pytest.mark.parametrize(("price", "values", "amount"), [
    pytest.param(pct(percent="10"), [], 0, id="no-transactions"),
    pytest.param(pct(percent="10"), ["10", "20"], 3, id="no-allowance"),
    pytest.param(pct(percent="10", free_transactions=2), ["10", "20", "30"], 3,
                 id="free-transactions-only"),
    pytest.param(pct(percent="10", free_value="25"), ["10", "20", "30"], D("3.5"),
                 id="free-value-only-partial"),
    pytest.param(pct(percent="10", free_transactions=1, free_value="100"), ["10", "20"], 2,
                 id="count-limit-first"),
    pytest.param(pct(percent="10", free_transactions=5, free_value="25"), ["10", "20", "30"],
                 D("3.5"), id="value-limit-first"),
    pytest.param(pct(percent="10", free_value="30"), ["10", "20", "30"], 3,
                 id="value-limit-exactly-reached"),
    pytest.param(pct(percent="10", fixed_amount="0.30", free_value="25"), ["10", "20"],
                 D("0.8"), id="partial-pays-fixed"),
    pytest.param(pct(percent="1", min_per_transaction="0.50", max_per_transaction="2"),
                 ["10", "100", "1000"], D("3.5"), id="clamped"),
    pytest.param(pct(percent="1", min_per_transaction="0.50", free_transactions=1),
                 ["10", "10"], D("0.5"), id="covered-whole-costs-zero-despite-min"),
    pytest.param(pct(percent="2.9", fixed_amount="0.30"), ["100"], D("3.2"), id="card-fee"),
    pytest.param(pct(percent="2.9", fixed_amount="0.30", minimum="10"), ["100"], 10,
                 id="period-minimum"),
])
def test_percentage_table(price, values, amount) -> None:
    rating = rate_values(price, values)
    assert rating.amount == amount
    assert sum(line.amount for line in rating.lines) == rating.amount


def test_breakdown_with_allowance_and_clamps() -> None:
    price = pct(percent="1", fixed_amount="0.10", free_transactions=1,
                min_per_transaction="0.50", max_per_transaction="2")
    rating = rate_values(price, ["7", "10", "100", "1000"])
    # 7 free; 10 -> 0.2 -> 0.5; 100 -> 1.1; 1000 -> 10.1 -> 2
    assert rating.amount == D("3.6")
    assert rating.lines == (
        BreakdownLine("free-allowance", "1 transaction covered by the free allowance"
                      " (7 of value free)", D(7), D(0), D(0)),
        BreakdownLine("percentage", "1% of 1,110 (3 transactions)", D(1110), D("0.01"),
                      D("11.10")),
        BreakdownLine("fixed", "3 transactions x 0.10", D(3), D("0.10"), D("0.30")),
        BreakdownLine("min-per-transaction-adjustment",
                      "1 transaction raised to the minimum fee of 0.50", D(1), D("0.3"),
                      D("0.3")),
        BreakdownLine("max-per-transaction-adjustment",
                      "1 transaction capped at the maximum fee of 2", D(1), D("-8.1"),
                      D("-8.1")),
    )


def test_streaming_form_carries_the_allowance() -> None:
    price = pct(percent="10", free_transactions=5, free_value="25")
    assert rate_values_increment(price, 0, 0, ["10"]) == 0
    assert rate_values_increment(price, 1, "10", ["20"]) == D("0.5")
    assert rate_values_increment(price, 2, "30", ["30"]) == 3
