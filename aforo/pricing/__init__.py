"""Exact rating of API usage: six pricing models, Decimal only, no I/O.

    price = parse_price({"model": "graduated", "tiers": [...]})
    rate(price, "47200")                   # Rating(amount=Decimal('286.000'), lines=(...))
    rate_increment(price, before, quantity)  # F(before + quantity) - F(before)
    rate_change(price, before, after)      # F(after) - F(before): ptd may fall (latest)
    round_money(amount, "USD")             # once, per invoice line

The semantics are docs/pricing.md (the contract); `rating` declares
the order of the steps, `models/` holds one module per model.
"""

from __future__ import annotations

from aforo.pricing.breakdown import BreakdownLine, Rating
from aforo.pricing.errors import PriceError
from aforo.pricing.models import MODELS, model_class
from aforo.pricing.numbers import format_decimal, to_decimal
from aforo.pricing.price import Price, Transform, parse_price, read_price
from aforo.pricing.rating import (
    as_quantity,
    rate,
    rate_change,
    rate_increment,
    rate_values,
    rate_values_increment,
)
from aforo.pricing.rounding import minor_units, round_money

__all__ = [
    "MODELS",
    "BreakdownLine",
    "Price",
    "PriceError",
    "Rating",
    "Transform",
    "as_quantity",
    "format_decimal",
    "minor_units",
    "model_class",
    "parse_price",
    "rate",
    "rate_change",
    "rate_increment",
    "rate_values",
    "rate_values_increment",
    "read_price",
    "round_money",
    "to_decimal",
]
