from __future__ import annotations

import pytest

from aforo.pricing import BreakdownLine, parse_price, rate, rate_increment

from ..support import D

FEE = parse_price({"model": "flat", "amount": "49"})


@pytest.mark.parametrize("quantity", [0, 1, 10**9])
def test_flat_is_charged_whatever_the_usage(quantity) -> None:
    assert rate(FEE, quantity).lines == (BreakdownLine("flat", "Flat fee", D(1), D(49), D(49)),)


def test_flat_streams_nothing_the_close_charges_it() -> None:
    assert rate_increment(FEE, 0, 1000) == 0
    assert rate_increment(FEE, 5, 0) == 0
