from __future__ import annotations

import pytest

from aforo.pricing import BreakdownLine, parse_price, rate

from ..support import D

UP = parse_price({"model": "package", "package_size": 10, "package_amount": "0.80"})
DOWN = parse_price({"model": "package", "package_size": "10", "package_amount": "0.80",
                    "rounding": "down"})


@pytest.mark.parametrize(("price", "quantity", "packages"), [
    (UP, 0, 0), (UP, 1, 1), (UP, 10, 1), (UP, 11, 2), (UP, D("10.001"), 2), (UP, 20, 2),
    (DOWN, 0, 0), (DOWN, 9, 0), (DOWN, 10, 1), (DOWN, 19, 1), (DOWN, D("20.5"), 2),
])
def test_package_table(price, quantity, packages) -> None:
    rating = rate(price, quantity)
    assert [(line.key, line.quantity, line.unit_amount) for line in rating.lines] == [
        ("package", packages, D("0.80"))
    ]
    assert rating.amount == packages * D("0.80")


def test_description() -> None:
    assert rate(UP, 11).lines == (
        BreakdownLine("package", "2 packages of 10 (11 units) x 0.80", D(2), D("0.80"), D("1.60")),
    )
    assert rate(UP, 1).lines[0].description == "1 package of 10 (1 units) x 0.80"


def test_size_written_as_integral_decimal_is_an_integer() -> None:
    price = parse_price({"model": "package", "package_size": "1000.0", "package_amount": "5"})
    assert rate(price, 1001).amount == 10
