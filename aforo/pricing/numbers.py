"""Decimals in, decimals out: reading numbers exactly, and the context rating runs in.

Numbers arrive as strings, ints or Decimals (the catalog and the CLI parse
YAML/JSON numbers straight into Decimal from their text). A Python float can
still arrive from a caller that parsed JSON itself. Its text is gone by then,
but for a float of at most 15 significant digits the shortest `repr` is exactly
the literal that produced it, so we read `Decimal(repr(x))`. A float with more
digits has lost its text, and we refuse it rather than guess.
"""

from __future__ import annotations

import decimal
from datetime import date
from decimal import Decimal
from typing import Final

# Rating never rounds. 60 significant digits hold a 10^15 quantity times a
# 12-decimal unit price many times over; `Inexact` is trapped, so an input too
# long to rate exactly raises instead of being rounded quietly.
CONTEXT: Final = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
HUNDRED: Final = Decimal(100)

_FLOAT_DIGITS: Final = 15


def fits_decimal(value: Decimal, precision: int, scale: int) -> bool:
    """Whether SQL's DECIMAL(precision, scale) holds `value` once it is rounded half up to
    `scale` places, as Flink's and DuckDB's casts round it: at most precision - scale digits
    before the point (99.5 does not fit DECIMAL(2, 0): it rounds to 100)."""
    digits = precision - scale
    if value.adjusted() >= digits:
        return False
    context = decimal.Context(prec=precision + 2, Emin=decimal.MIN_EMIN, Emax=decimal.MAX_EMAX)
    rounded = value.quantize(Decimal(1).scaleb(-scale), decimal.ROUND_HALF_UP, context)
    return rounded.adjusted() < digits


class NotADecimal(ValueError):
    """A value that cannot be read as an exact decimal; the message says why."""


def to_decimal(value: object) -> Decimal:
    """Read a number exactly, or raise NotADecimal with the reason."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise NotADecimal("must be a decimal number, not a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise NotADecimal("must be a decimal number") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
        if result.is_finite() and _significant_digits(result) > _FLOAT_DIGITS:
            raise NotADecimal(
                "is a binary float with more than 15 significant digits, so its text is lost;"
                " write it as a string"
            )
    else:
        raise NotADecimal("must be a decimal number")
    if not result.is_finite():
        raise NotADecimal("must be a finite decimal number")
    if not in_range(result):
        raise NotADecimal(
            "must be 0 or between 1E-999999 and 1E+1000000 in size (what rating can hold)"
        )
    return result


def in_range(value: Decimal) -> bool:
    """Whether the rating context holds `value` (10^-999999 up to 10^1000000, or 0).
    Nothing can rate a number beyond, and printing one (1E+999999999) in a description
    or an error would take seconds and gigabytes."""
    return not value or CONTEXT.Emin <= value.adjusted() <= CONTEXT.Emax


def _trailing_zeros(digits: tuple[int, ...]) -> int:
    count = 0
    for digit in reversed(digits):
        if digit:
            break
        count += 1
    return count


def _significant_digits(value: Decimal) -> int:
    digits = value.as_tuple().digits
    return max(1, len(digits) - _trailing_zeros(digits))


def decimal_places(value: Decimal) -> int:
    """Decimal places the value needs (trailing zeros do not count)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent - _trailing_zeros(digits))


def terminates(divisor: Decimal) -> bool:
    """True if x / divisor is a finite decimal for every finite decimal x."""
    coefficient = int("".join(map(str, divisor.as_tuple().digits)))
    for factor in (2, 5):
        while coefficient and coefficient % factor == 0:
            coefficient //= factor
    return coefficient == 1


def _plain(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_decimal(value: Decimal) -> str:
    """The exact value as plain text: no exponent, no trailing zeros (`286`, `0.015`)."""
    return _plain(f"{value:f}") if value else "0"


def format_grouped(value: Decimal) -> str:
    """For human descriptions: thousands separators, decimals as written (`10,000 x 0.30`)."""
    return f"{value:,f}" if value else "0"


def show(value: object) -> str:
    """A value as error messages quote it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)
