"""Rounding money: the one function that does it, used once per invoice line."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import get_currency_precision, is_currency

from aforo.pricing.errors import PriceError

# Quantize must not run out of digits for any amount a rating can produce (up to
# 10^999999, the rating context's Emax): the most a context holds. Quantize is exact
# but for the one rounding, so this costs only the digits the result has.
_ROUNDING = decimal.Context(
    prec=decimal.MAX_PREC, rounding=ROUND_HALF_UP, Emin=decimal.MIN_EMIN, Emax=decimal.MAX_EMAX
)


@cache
def minor_units(currency: str) -> int:
    """Digits after the point of the currency's minor unit (USD 2, JPY 0, BHD 3), from CLDR."""
    if not isinstance(currency, str) or not is_currency(currency):
        raise PriceError(f"currency: not an ISO 4217 currency code (got {currency!r})")
    return int(get_currency_precision(currency))


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up (half away from zero) to the currency's minor unit: USD 0.015 -> 0.02."""
    return amount.quantize(_quantum(currency), context=_ROUNDING)
