"""parse_price: every class of validation error, named by path and value; round trips."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aforo.pricing import MODELS, PriceError, model_class, parse_price

GRAD = {"model": "graduated", "tiers": [
    {"up_to": "10", "unit_amount": "1"}, {"up_to": None, "unit_amount": "0.5"},
]}


def errors_of(obj: Any, path: str = "price") -> list[str]:
    with pytest.raises(PriceError) as info:
        parse_price(obj, path)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def tiered(*tiers: Any) -> dict[str, Any]:
    return {"model": "graduated", "tiers": list(tiers)}


@pytest.mark.parametrize(("obj", "message"), [
    pytest.param([], "price: must be a mapping (got a list)", id="not-a-mapping"),
    pytest.param({}, "price.model: required (one of: flat, graduated, package, per_unit,"
                     " percentage, volume)", id="model-missing"),
    pytest.param({"model": "tiered"}, "price.model: unknown model (one of: flat, graduated,"
                 " package, per_unit, percentage, volume); did you mean graduated? (got 'tiered')",
                 id="model-unknown"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "unit_amont": "2"},
                 "price.unit_amont: unknown field (allowed: free_units, maximum, minimum, model,"
                 " transform, unit_amount)", id="unknown-field"),
    pytest.param({"model": "per_unit"}, "price.unit_amount: required", id="required"),
    pytest.param({"model": "per_unit", "unit_amount": "abc"},
                 "price.unit_amount: must be a decimal number (got 'abc')", id="not-a-number"),
    pytest.param({"model": "per_unit", "unit_amount": True},
                 "price.unit_amount: must be a decimal number, not a boolean (got True)",
                 id="boolean"),
    pytest.param({"model": "per_unit", "unit_amount": [1]},
                 "price.unit_amount: must be a decimal number (got a list)", id="list"),
    pytest.param({"model": "per_unit", "unit_amount": "NaN"},
                 "price.unit_amount: must be a finite decimal number (got 'NaN')", id="nan"),
    pytest.param({"model": "per_unit", "unit_amount": "Infinity"},
                 "price.unit_amount: must be a finite decimal number (got 'Infinity')",
                 id="infinity"),
    pytest.param({"model": "per_unit", "unit_amount": "-1"},
                 "price.unit_amount: must not be negative (got -1)", id="negative"),
    pytest.param({"model": "per_unit", "unit_amount": "0.0000000000001"},
                 "price.unit_amount: must have at most 12 decimal places (got 1E-13)",
                 id="thirteen-places"),
    pytest.param({"model": "per_unit", "unit_amount": 0.1 + 0.2},
                 "price.unit_amount: is a binary float with more than 15 significant digits,"
                 " so its text is lost; write it as a string (got 0.30000000000000004)",
                 id="lossy-float"),
    pytest.param({"model": "graduated"}, "price.tiers: required", id="tiers-missing"),
    pytest.param({"model": "graduated", "tiers": []}, "price.tiers: must hold at least one tier",
                 id="tiers-empty"),
    pytest.param({"model": "graduated", "tiers": "x"}, "price.tiers: must be a list (got 'x')",
                 id="tiers-not-a-list"),
    pytest.param(tiered("x"), "price.tiers[0]: must be a mapping (got 'x')", id="tier-not-mapping"),
    pytest.param(tiered({"unit_amount": "1"}),
                 "price.tiers[0].up_to: required (null for the last tier)", id="up_to-missing"),
    pytest.param(tiered({"up_to": "10", "unit_amount": "1"}, {"up_to": "20", "unit_amount": "1"},
                        {"up_to": "10", "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}),
                 "price.tiers[2].up_to: must be greater than tiers[1].up_to (20) (got 10)",
                 id="not-ascending"),
    pytest.param(tiered({"up_to": "10", "unit_amount": "1"}, {"up_to": "10", "unit_amount": "1"},
                        {"up_to": None, "unit_amount": "1"}),
                 "price.tiers[1].up_to: must be greater than tiers[0].up_to (10) (got 10)",
                 id="equal-bounds"),
    pytest.param(tiered({"up_to": "10", "unit_amount": "1"}),
                 "price.tiers[0].up_to: must be null: the last tier is open-ended (got 10)",
                 id="last-not-null"),
    pytest.param(tiered({"up_to": None, "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}),
                 "price.tiers[0].up_to: must be a number: only the last tier may be null"
                 " (open-ended)", id="middle-null"),
    pytest.param(tiered({"up_to": "0", "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}),
                 "price.tiers[0].up_to: must be greater than 0 (got 0)", id="zero-bound"),
    pytest.param(tiered({"up_to": None}),
                 "price.tiers[0]: needs unit_amount or flat_amount (or both)", id="empty-tier"),
    pytest.param(tiered({"up_to": None, "unit_amount": "1", "price": "2"}),
                 "price.tiers[0].price: unknown field (allowed: flat_amount, unit_amount, up_to)",
                 id="tier-unknown-field"),
    pytest.param({"model": "package", "package_size": 0, "package_amount": "1"},
                 "price.package_size: must be greater than 0 (got 0)", id="package-size-zero"),
    pytest.param({"model": "package", "package_size": "2.5", "package_amount": "1"},
                 "price.package_size: must be a whole number (got 2.5)", id="package-size-frac"),
    pytest.param({"model": "package", "package_size": 10, "package_amount": "1",
                  "rounding": "nearest"},
                 "price.rounding: must be one of: up, down (got 'nearest')", id="package-rounding"),
    pytest.param({"model": "flat"}, "price.amount: required", id="flat-amount"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "transform": {"divide_by": "0"}},
                 "price.transform.divide_by: must be greater than 0 (got 0)", id="divide-by-zero"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "transform": {"divide_by": "3600"}},
                 'price.transform.divide_by: does not divide exactly with round "none" (use a'
                 ' divisor made of factors 2 and 5, like 1000 or 1024, or round "up" or "down")'
                 " (got 3600)", id="inexact-divisor"),
    pytest.param({"model": "per_unit", "unit_amount": "1",
                  "transform": {"divide_by": "10", "round": "nearest"}},
                 "price.transform.round: must be one of: none, up, down (got 'nearest')",
                 id="transform-round"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "transform": {"divide_by": "10",
                                                                         "by": 1}},
                 "price.transform.by: unknown field (allowed: divide_by, round)",
                 id="transform-unknown"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "transform": 1000},
                 "price.transform: must be a mapping (got 1000)", id="transform-not-mapping"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "free_units": "-5"},
                 "price.free_units: must not be negative (got -5)", id="free-units-negative"),
    pytest.param({"model": "per_unit", "unit_amount": "1", "minimum": "10", "maximum": "5"},
                 "price.maximum: must be at least minimum (10) (got 5)", id="max-below-min"),
    pytest.param({"model": "percentage"}, "price.percent: required", id="percent-missing"),
    pytest.param({"model": "percentage", "percent": "101"},
                 "price.percent: must be at most 100 (got 101)", id="percent-over-100"),
    pytest.param({"model": "percentage", "percent": "1", "free_transactions": "1.5"},
                 "price.free_transactions: must be a whole number (got 1.5)",
                 id="free-transactions-fraction"),
    pytest.param({"model": "percentage", "percent": "1", "min_per_transaction": "2",
                  "max_per_transaction": "1"},
                 "price.max_per_transaction: must be at least min_per_transaction (2) (got 1)",
                 id="clamp-inverted"),
    pytest.param({"model": "percentage", "percent": "1", "free_units": "5"},
                 "price.free_units: not used by percentage prices (they rate transaction values)",
                 id="percentage-free-units"),
    pytest.param({"model": "percentage", "percent": "1", "transform": {"divide_by": "10"}},
                 "price.transform: not used by percentage prices (they rate transaction values)",
                 id="percentage-transform"),
])
def test_validation_error_names_path_and_value(obj, message) -> None:
    assert message in errors_of(obj)


def test_the_semantics_page_wording_is_a_prefix_of_ours() -> None:
    obj = tiered({"up_to": "5", "unit_amount": "1"}, {"up_to": "10", "unit_amount": "1"},
                 {"up_to": "7", "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"})
    assert any("tiers[2].up_to: must be greater than tiers[1].up_to (10)" in e
               for e in errors_of(obj))


def test_every_error_is_collected() -> None:
    found = errors_of({"model": "graduated", "minimum": "x", "tiers": [
        {"up_to": "-1", "unit_amount": "1"}, {"up_to": None, "unit_amount": "-2", "flat": 1},
    ]})
    assert found == [
        "price.minimum: must be a decimal number (got 'x')",
        "price.tiers[0].up_to: must be greater than 0 (got -1)",
        "price.tiers[1].unit_amount: must not be negative (got -2)",
        "price.tiers[1].flat: unknown field (allowed: flat_amount, unit_amount, up_to)",
    ]


def test_the_path_prefix_is_the_callers() -> None:
    assert errors_of({"model": "flat"}, "versions[0].charges[3].price") == [
        "versions[0].charges[3].price.amount: required",
    ]


def test_numbers_read_from_text_ints_and_short_floats() -> None:
    assert parse_price({"model": "per_unit", "unit_amount": 0.1}) == \
        parse_price({"model": "per_unit", "unit_amount": "0.1"})
    assert parse_price({"model": "per_unit", "unit_amount": 2}) == \
        parse_price({"model": "per_unit", "unit_amount": Decimal("2.000")})


@pytest.mark.parametrize("obj", [
    GRAD,
    {"model": "volume", "tiers": [{"up_to": "5", "flat_amount": "1"},
                                  {"up_to": None, "unit_amount": "0.5", "flat_amount": "2"}]},
    {"model": "per_unit", "unit_amount": "0.000000000001", "free_units": "100",
     "transform": {"divide_by": "1000000000", "round": "up"}, "minimum": "1", "maximum": "9"},
    {"model": "package", "package_size": 10, "package_amount": "0.8", "rounding": "down"},
    {"model": "flat", "amount": "49"},
    {"model": "percentage", "percent": "2.9", "fixed_amount": "0.3", "free_transactions": 3,
     "free_value": "100", "min_per_transaction": "0.5", "max_per_transaction": "9"},
])
def test_to_dict_reads_back_equal(obj) -> None:
    price = parse_price(obj)
    assert parse_price(price.to_dict()) == price
    assert price.model_name == obj["model"]


def test_registry_refuses_unknown_names() -> None:
    assert set(MODELS) == {"per_unit", "graduated", "volume", "package", "flat", "percentage"}
    assert model_class("volume").name == "volume"
    with pytest.raises(PriceError, match=r"model: unknown model .* \(got 'stairstep'\)"):
        model_class("stairstep")


def test_prices_are_frozen() -> None:
    price = parse_price(GRAD)
    with pytest.raises(AttributeError):
        price.minimum = Decimal(1)  # type: ignore[misc]
