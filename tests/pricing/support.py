"""Helpers shared by the pricing tests: short price builders and line summaries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aforo.pricing import Price, Rating, parse_price

D = Decimal


def tiers(*pairs: tuple[Any, Any]) -> list[dict[str, Any]]:
    """`tiers((10, "0.5"), (None, "0.4"))`: up_to and unit_amount pairs."""
    return [{"up_to": None if up is None else str(up), "unit_amount": str(unit)}
            for up, unit in pairs]


def graduated(*pairs: tuple[Any, Any], **common: Any) -> Price:
    return parse_price({"model": "graduated", "tiers": tiers(*pairs), **common})


def volume(*pairs: tuple[Any, Any], **common: Any) -> Price:
    return parse_price({"model": "volume", "tiers": tiers(*pairs), **common})


def per_unit(unit: str, **common: Any) -> Price:
    return parse_price({"model": "per_unit", "unit_amount": unit, **common})


def summary(rating: Rating) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(key, quantity, unit_amount, amount) of every line, for table comparisons."""
    return [(line.key, line.quantity, line.unit_amount, line.amount) for line in rating.lines]

