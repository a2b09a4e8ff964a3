"""Properties of incremental (streaming) rating, for any price and any split of a quantity.

Hours rated as F(c + q) - F(c) add up to F(total) - F(0) exactly, and agree with the
whole-period rating; amounts are never negative except a volume hour's increment.
"""

from __future__ import annotations

import decimal
from decimal import Decimal, localcontext
from itertools import accumulate
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aforo.pricing import (
    Price,
    PriceError,
    parse_price,
    rate,
    rate_change,
    rate_increment,
    rate_values,
    rate_values_increment,
)
from aforo.pricing.breakdown import line_sum
from aforo.pricing.numbers import CONTEXT

SETTINGS = settings(deadline=None, max_examples=150)


def amounts(places: int = 12, high: int = 10) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=high, places=places)


def quantities(high: int = 2_000_000, places: int = 3) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=high, places=places)


@st.composite
def tier_lists(draw: st.DrawFn, flats: bool = True) -> list[dict[str, Any]]:
    bounds = sorted(draw(st.lists(st.decimals(min_value="0.001", max_value=1_000_000, places=3),
                                  max_size=5, unique=True)))
    tiers = []
    for up_to in [*bounds, None]:
        tier: dict[str, Any] = {"up_to": None if up_to is None else str(up_to)}
        has_flat = flats and draw(st.booleans())
        if not has_flat or draw(st.booleans()):
            tier["unit_amount"] = str(draw(amounts()))
        if has_flat:
            tier["flat_amount"] = str(draw(amounts(places=2, high=100)))
        tiers.append(tier)
    return tiers


@st.composite
def commons(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["transform"] = {
            "divide_by": draw(st.sampled_from(["1", "10", "1000", "1024", "0.5", "1000000000"])),
            "round": draw(st.sampled_from(["none", "up", "down"])),
        }
    if draw(st.booleans()):
        out["free_units"] = str(draw(quantities(high=5000)))
    return out


def model_fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "per_unit":
        return amounts().map(lambda u: {"model": kind, "unit_amount": str(u)})
    if kind in ("graduated", "volume"):
        return tier_lists().map(lambda t: {"model": kind, "tiers": t})
    if kind == "package":
        return st.builds(
            lambda size, amount, rounding: {"model": kind, "package_size": size,
                                            "package_amount": str(amount), "rounding": rounding},
            st.integers(1, 5000), amounts(places=4, high=100), st.sampled_from(["up", "down"]),
        )
    return amounts(places=2, high=100).map(lambda a: {"model": "flat", "amount": str(a)})


def prices(*kinds: str) -> st.SearchStrategy[Price]:
    return st.sampled_from(kinds).flatmap(model_fields).flatmap(
        lambda fields: commons().map(lambda common: parse_price({**fields, **common}))
    )


QUANTITY_MODELS = ("per_unit", "graduated", "volume", "package", "flat")
MONOTONE = ("per_unit", "graduated", "package", "flat")


@SETTINGS
@given(prices(*QUANTITY_MODELS), st.lists(quantities(high=300_000), max_size=12))
def test_increments_over_any_split_add_up_exactly(price: Price, hours: list[Decimal]) -> None:
    total = sum(hours, Decimal(0))
    before = [Decimal(0), *accumulate(hours)]
    streamed = sum((rate_increment(price, c, q) for c, q in zip(before, hours, strict=False)),
                   Decimal(0))
    assert streamed == rate_increment(price, 0, total)
    # and the stream agrees with the whole-period rating: F(total) - F(0)
    assert streamed == rate(price, total).amount - rate(price, 0).amount


@SETTINGS
@given(prices(*QUANTITY_MODELS), st.lists(quantities(high=300_000), max_size=12))
def test_changes_of_a_quantity_that_falls_add_up_to_its_last_value(price: Price, hours: list[Decimal]) -> None:
    """A latest metric's period-to-date goes up and down: the hours' F(after) - F(before)
    still add up to F(the last value) - F(0), and agree with rate_increment when it rises."""
    path = [Decimal(0), *hours]
    streamed = sum((rate_change(price, a, b) for a, b in zip(path, path[1:], strict=False)), Decimal(0))
    assert streamed == rate(price, path[-1]).amount - rate(price, 0).amount
    for a, b in zip(path, path[1:], strict=False):
        assert rate_change(price, a, b) == -rate_change(price, b, a)
        if b >= a:
            assert rate_change(price, a, b) == rate_increment(price, a, b - a)


def test_a_change_names_the_quantity_that_is_negative() -> None:
    price = parse_price({"model": "per_unit", "unit_amount": "1"})
    with pytest.raises(PriceError, match=r"^after: must not be negative \(got -1\)"):
        rate_change(price, 2, -1)
    with pytest.raises(PriceError, match=r"^before: must not be negative"):
        rate_change(price, "-2", 1)


@SETTINGS
@given(prices(*MONOTONE), quantities(), quantities())
def test_increments_never_negative_except_volume(price: Price, c: Decimal, q: Decimal) -> None:
    assert rate_increment(price, c, q) >= 0


@SETTINGS
@given(prices(*QUANTITY_MODELS), quantities(high=10**7))
def test_amount_is_the_sum_of_the_lines(price: Price, quantity: Decimal) -> None:
    rating = rate(price, quantity)
    assert rating.amount >= 0
    assert rating.amount == sum((line.amount for line in rating.lines), Decimal(0))
    for line in rating.lines:
        assert line.amount == line.quantity * line.unit_amount
        assert all(isinstance(v, Decimal) for v in line[2:])
    with localcontext(CONTEXT):
        units = price.billing_units(quantity)
        assert price.model.amount(units) == line_sum(price.model.lines(units))  # type: ignore[attr-defined]


@SETTINGS
@given(prices(*QUANTITY_MODELS))
def test_to_dict_reads_back_equal(price: Price) -> None:
    assert parse_price(price.to_dict()) == price


@SETTINGS
@given(st.integers(0, 10**15), amounts(places=12, high=1000))
def test_huge_quantities_times_tiny_prices_are_exact(quantity: int, unit: Decimal) -> None:
    exact = decimal.Context(prec=200).multiply(Decimal(quantity), unit)
    price = parse_price({"model": "per_unit", "unit_amount": str(unit)})
    assert rate(price, quantity).amount == exact
    assert rate_increment(price, quantity, 1) == unit


@SETTINGS
@given(
    st.builds(
        lambda percent, fixed, free_n, free_v, low, high: parse_price({
            "model": "percentage", "percent": str(percent), "fixed_amount": str(fixed),
            "free_transactions": free_n, "free_value": str(free_v),
            **({"min_per_transaction": str(low)} if low is not None else {}),
            **({"max_per_transaction": str(low + high)} if high is not None and low is not None
               else {}),
        }),
        amounts(places=3, high=100), amounts(places=2, high=1), st.integers(0, 5),
        quantities(high=500, places=2), st.none() | amounts(places=2, high=2),
        st.none() | amounts(places=2, high=5),
    ),
    st.lists(st.lists(quantities(high=300, places=2), max_size=5), max_size=6),
)
def test_percentage_streamed_in_chunks_equals_the_period(price: Price, chunks) -> None:
    values = [v for chunk in chunks for v in chunk]
    count, total, streamed = 0, Decimal(0), Decimal(0)
    for chunk in chunks:
        streamed += rate_values_increment(price, count, total, chunk)
        count += len(chunk)
        total += sum(chunk, Decimal(0))
    rating = rate_values(price, values)
    assert streamed == rating.amount
    assert rating.amount >= 0
    assert rating.amount == sum((line.amount for line in rating.lines), Decimal(0))
