"""Reading numbers exactly, and printing them."""

from __future__ import annotations

import pytest

from aforo.pricing import format_decimal, to_decimal
from aforo.pricing.numbers import NotADecimal, decimal_places, terminates

from .support import D


@pytest.mark.parametrize(("value", "expected"), [
    ("0.0015", "0.0015"), (12, "12"), (D("1.50"), "1.50"), (0.1, "0.1"), (1e22, "1E+22"),
    (" 7 ", "7"), ("1_000", "1000"), ("9E+999999", "9E+999999"), ("1E-999999", "1E-999999"),
    ("0E-1000000000", "0E-1000000000"),
])
def test_to_decimal(value, expected) -> None:
    assert str(to_decimal(value)) == expected


@pytest.mark.parametrize("value", [
    True, None, [], "1,5", "nan", float("nan"), 0.1 + 0.2, "1E+1000000", "-1E-1000000",
])
def test_to_decimal_refuses(value) -> None:
    with pytest.raises(NotADecimal):
        to_decimal(value)


@pytest.mark.parametrize(("value", "text"), [
    ("286.000", "286"), ("1E+3", "1000"), ("0.0150", "0.015"), ("-0.00", "0"), ("0", "0"),
    ("123456789012000.123456789012", "123456789012000.123456789012"),
])
def test_format_decimal(value, text) -> None:
    assert format_decimal(D(value)) == text


def test_helpers() -> None:
    assert decimal_places(D("0.0100")) == 2
    assert decimal_places(D("1E+3")) == 0
    assert terminates(D("1000000000")) and terminates(D("1024")) and terminates(D("0.5"))
    assert not terminates(D("3600")) and not terminates(D("3"))
