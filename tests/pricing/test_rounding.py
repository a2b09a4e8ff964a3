"""round_money: half-up (away from zero) to the currency's minor unit, from CLDR via Babel."""

from __future__ import annotations

import pytest

from aforo.pricing import PriceError, minor_units, round_money

from .support import D


@pytest.mark.parametrize(("currency", "digits"), [
    ("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3), ("KWD", 3), ("CLP", 0),
])
def test_minor_units(currency, digits) -> None:
    assert minor_units(currency) == digits


@pytest.mark.parametrize(("amount", "currency", "rounded"), [
    ("0.015", "USD", "0.02"),
    ("0.0149999", "USD", "0.01"),
    ("0.025", "USD", "0.03"),      # half-up, not banker's rounding
    ("-0.015", "USD", "-0.02"),    # half away from zero
    ("286", "USD", "286.00"),
    ("2.5", "JPY", "3"),
    ("1.49", "JPY", "1"),
    ("1.0005", "BHD", "1.001"),
    ("1.0004999", "BHD", "1.000"),
    ("123456789012345678901234567890.125", "EUR", "123456789012345678901234567890.13"),
    # more digits than the 200 the rounding context held: InvalidOperation
    ("1" + "0" * 250 + ".005", "USD", "1" + "0" * 250 + ".01"),
    ("2.1E+294", "USD", "21" + "0" * 293 + ".00"),
    ("9E+999999", "BHD", "9" + "0" * 999_999 + ".000"),
])
def test_round_money(amount, currency, rounded) -> None:
    result = round_money(D(amount), currency)
    assert str(result) == rounded


def test_unknown_currency_is_an_error() -> None:
    with pytest.raises(PriceError, match=r"currency: not an ISO 4217 currency code \(got 'XYZ'\)"):
        round_money(D(1), "XYZ")
