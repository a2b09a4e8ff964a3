from __future__ import annotations

import pytest

from aforo.pricing import BreakdownLine, rate

from ..support import D, per_unit


@pytest.mark.parametrize(("quantity", "amount"), [
    (0, 0), (1, D("0.10")), (12, D("1.20")), (D("0.5"), D("0.05")), (10**15, 10**14),
])
def test_per_unit_table(quantity, amount) -> None:
    rating = rate(per_unit("0.10"), quantity)
    assert rating.amount == amount
    assert rating.lines == (
        BreakdownLine("unit", f"{D(quantity):,f} x 0.10" if quantity else "0 x 0.10",
                      D(quantity), D("0.10"), amount),
    )
