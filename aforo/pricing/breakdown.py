"""What rating returns: breakdown lines with stable keys, and their sum."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class BreakdownLine(NamedTuple):
    """One line of a rating, as an invoice shows it.

    `key` is stable (`tier-2-unit`, `tier-1-flat`, `unit`, `package`, `flat`,
    `free-units`, `minimum-adjustment`, ...). Every number is a Decimal, always,
    and `amount == quantity * unit_amount` on every line: a fee or an adjustment
    is a quantity of 1 at its amount; an informational line (free units) has a
    unit amount of 0. Amounts are exact, never rounded.
    """

    key: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal


class Rating(NamedTuple):
    """The exact amount of a rating and the lines it is the sum of."""

    amount: Decimal
    lines: tuple[BreakdownLine, ...]


def line_sum(lines: list[BreakdownLine] | tuple[BreakdownLine, ...]) -> Decimal:
    """The amount of a breakdown: the sum of its lines (exact in the rating context)."""
    total = Decimal(0)
    for line in lines:
        total += line.amount
    return total
