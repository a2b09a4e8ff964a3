"""The steps in order (transform, free units, model, minimum, maximum) and the inputs."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from aforo.pricing import (
    BreakdownLine,
    PriceError,
    parse_price,
    rate,
    rate_increment,
    rate_values,
    rate_values_increment,
)

from .support import D, graduated, per_unit, summary


@pytest.mark.parametrize(("price", "quantity", "lines"), [
    pytest.param(
        per_unit("1", transform={"divide_by": "1000", "round": "up"}, free_units="2"), 3500,
        [("free-units", 2, 0, 0), ("unit", 2, 1, 2)],
        id="transform-then-free-units",  # 3500 -> 4 units, 2 free, 2 paid
    ),
    pytest.param(
        per_unit("1", transform={"divide_by": "1000", "round": "down"}), 3999,
        [("unit", 3, 1, 3)], id="transform-down",
    ),
    pytest.param(
        per_unit("1", transform={"divide_by": "1000"}), 3500,
        [("unit", D("3.5"), 1, D("3.5"))], id="transform-none-exact",
    ),
    pytest.param(
        per_unit("1", free_units="1000"), 400,
        [("free-units", 400, 0, 0), ("unit", 0, 1, 0)], id="free-units-never-below-zero",
    ),
    pytest.param(
        per_unit("1", free_units="10", minimum="5"), 12,
        [("free-units", 10, 0, 0), ("unit", 2, 1, 2), ("minimum-adjustment", 1, 3, 3)],
        id="minimum-after-free-units",
    ),
    pytest.param(
        per_unit("1", minimum="5", maximum="8"), 20,
        [("unit", 20, 1, 20), ("maximum-adjustment", 1, -12, -12)], id="maximum",
    ),
    pytest.param(
        per_unit("1", minimum="5", maximum="8"), 6, [("unit", 6, 1, 6)], id="between",
    ),
    pytest.param(
        graduated((10, "0"), (None, "1"), minimum="5"), 0,
        [("tier-1-unit", 0, 0, 0), ("minimum-adjustment", 1, 5, 5)], id="minimum-at-zero",
    ),
])
def test_steps_in_order(price, quantity, lines) -> None:
    rating = rate(price, quantity)
    assert summary(rating) == lines
    assert rating.amount == sum(line[3] for line in lines)


def test_step_lines_describe_themselves() -> None:
    rating = rate(per_unit("1", free_units="10", minimum="5"), 12)
    assert rating.lines[0] == BreakdownLine(
        "free-units", "Free units: 10 of 10 per period", D(10), D(0), D(0))
    assert rating.lines[-1].description == "Raised to the minimum of 5"
    capped = rate(per_unit("1", maximum="8"), 20)
    assert capped.lines[-1].description == "Capped at the maximum of 8"


@pytest.mark.parametrize("quantity", [D(-1), -1, "-0.001"])
def test_negative_quantity_is_an_error(quantity) -> None:
    with pytest.raises(PriceError, match=r"^quantity: must not be negative \(got -"):
        rate(per_unit("1"), quantity)
    with pytest.raises(PriceError, match=r"^quantity: must not be negative"):
        rate_increment(per_unit("1"), 0, quantity)
    with pytest.raises(PriceError, match=r"^before: must not be negative"):
        rate_increment(per_unit("1"), quantity, 1)


@pytest.mark.parametrize(("quantity", "message"), [
    ("ten", "quantity: must be a decimal number (got 'ten')"),
    (None, "quantity: must be a decimal number (got null)"),
    (D("NaN"), "quantity: must be a finite decimal number (got NaN)"),
    (float("inf"), "quantity: must be a finite decimal number (got inf)"),
])
def test_quantity_must_be_a_finite_number(quantity, message) -> None:
    with pytest.raises(PriceError) as info:
        rate(per_unit("1"), quantity)
    assert str(info.value) == message


def test_quantities_as_text_ints_and_short_floats() -> None:
    price = per_unit("0.10")
    assert rate(price, "12").amount == rate(price, 12).amount == rate(price, 12.0).amount
    assert rate(price, 0.3).amount == D("0.03")


def test_percentage_and_quantity_models_do_not_mix() -> None:
    pct = parse_price({"model": "percentage", "percent": "1"})
    with pytest.raises(PriceError, match="percentage prices rate transaction values.*rate_values"):
        rate(pct, 1)
    with pytest.raises(PriceError, match="use rate_values_increment"):
        rate_increment(pct, 0, 1)
    with pytest.raises(PriceError, match="per_unit prices rate a quantity.*use rate"):
        rate_values(per_unit("1"), ["1"])
    with pytest.raises(PriceError, match="per_unit prices rate a quantity"):
        rate_values_increment(per_unit("1"), 0, 0, ["1"])
    with pytest.raises(PriceError, match="must be a Price from parse_price"):
        rate({"model": "per_unit", "unit_amount": "1"}, 1)  # type: ignore[arg-type]


def test_negative_transaction_value_is_an_error() -> None:
    pct = parse_price({"model": "percentage", "percent": "1"})
    with pytest.raises(PriceError, match=r"^values\[1\]: must not be negative \(got -5\)"):
        rate_values(pct, ["1", "-5"])
    with pytest.raises(PriceError, match="count_before: must be a whole number"):
        rate_values_increment(pct, -1, 0, ["1"])


def test_huge_quantities_and_tiny_prices_stay_exact() -> None:
    price = per_unit("0.000000000001")
    assert rate(price, 10**15).amount == 1000
    tiny = per_unit("0.123456789012")
    assert rate(tiny, 10**15 + 1).amount == D("123456789012000.123456789012")
    tiers = graduated((10**12, "0.000000000001"), (10**14, "0.000000000003"),
                      (None, "0.999999999999"))
    expected = D(1) + D(99 * 10**12) * D("0.000000000003") + \
        D(10**15 + 7 - 10**14) * D("0.999999999999")
    assert rate(tiers, 10**15 + 7).amount == expected
    assert str(rate_increment(tiers, 10**15, 7)) == "6.999999999993"


def test_a_quantity_too_long_to_rate_exactly_is_an_error_not_a_rounding() -> None:
    price = per_unit("0.333333333333")
    long = D("1." + "1" * 60)
    with pytest.raises(PriceError, match="cannot be rated exactly in 60 significant digits"):
        rate(price, long)
    with pytest.raises(PriceError, match="cannot be rated exactly"):
        rate_increment(price, long, 1)


@pytest.mark.parametrize("quantity", ["1E+999999999", D("1E+999999999"), "1E-999999999"])
def test_a_quantity_beyond_what_rating_holds_is_refused_at_once(quantity) -> None:
    # it was formatted into the line's description first: a billion digits, 2 to 6 s, 1 GB
    started = time.monotonic()
    with pytest.raises(PriceError, match=r"^quantity: must be 0 or between 1E-999999 and 1E\+1000000"):
        rate(per_unit("1"), quantity)
    assert time.monotonic() - started < 1


def test_a_price_beyond_what_rating_holds_is_refused() -> None:
    with pytest.raises(PriceError, match=r"^price.unit_amount: must be 0 or between 1E-999999"):
        per_unit("1E+999999999")


def test_rating_ignores_the_callers_decimal_context() -> None:
    import decimal

    with decimal.localcontext(decimal.Context(prec=3)):
        assert rate(per_unit("0.123456789012"), 10**15).amount == D("123456789012000")


def test_an_increment_ignores_the_callers_decimal_context() -> None:
    # before + quantity has 31 digits: the default context (28) rounded it to
    # ...345.6790, and the hour of 0.000001 at 1 cost 0.000099.
    before, quantity = D("1234567890123456789012345.678901"), D("0.000001")
    assert rate_increment(per_unit("1"), before, quantity) == D("0.000001")
    assert rate_increment(per_unit("2"), before, quantity) == D("0.000002")


def test_amount_is_the_sum_of_lines_and_never_rounded() -> None:
    rating = rate(per_unit("5.12345"), 3)
    assert rating.amount == Decimal("15.37035")


def test_the_callers_context_is_put_back_even_after_an_error() -> None:
    import decimal

    mine = decimal.Context(prec=5)
    with decimal.localcontext(mine) as ctx:
        rate(per_unit("1"), 3)
        rate_increment(per_unit("1"), 1, 2)
        with pytest.raises(PriceError):
            rate(per_unit("0.333333333333"), D("1." + "1" * 60))
        assert decimal.getcontext() is ctx and ctx.prec == 5
