"""`percentage`: a share of each transaction's value, rated on the ordered values.

The free allowance covers transactions in order and ends at whichever limit is
reached first: `free_transactions` transactions or `free_value` of value (a
limit of 0, the default, is not set; with neither set nothing is free). A
transaction covered whole costs 0; any other pays on its uncovered value:
fee = paid_value x percent / 100 + fixed_amount, clamped into
[min_per_transaction, max_per_transaction] where those are set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.models.base import MONEY, MONEY_PLACES, ValuesModel, text
from aforo.pricing.numbers import HUNDRED, ONE, ZERO, format_grouped


@dataclass(slots=True)
class _Walk:
    """What rating a run of transactions found, summed by kind."""

    covered_count: int = 0
    covered_value: Decimal = ZERO
    paid_count: int = 0
    paid_value: Decimal = ZERO
    raised: int = 0
    raised_by: Decimal = ZERO
    capped: int = 0
    capped_by: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Percentage(ValuesModel):
    name = "percentage"

    percent: Decimal
    fixed_amount: Decimal = ZERO
    free_transactions: int = 0
    free_value: Decimal = ZERO
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None
    _rate: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rate", self.percent / HUNDRED)  # exact: 100 = 2^2 x 5^2

    @classmethod
    def parse(cls, fields: Fields) -> Percentage | None:
        start = len(fields.errors)
        percent = fields.decimal(
            "percent", required=True, minimum=ZERO, maximum=HUNDRED, places=MONEY_PLACES
        )
        fixed = fields.decimal("fixed_amount", **MONEY)
        free_n = fields.decimal("free_transactions", minimum=ZERO, whole=True)
        free_value = fields.decimal("free_value", minimum=ZERO)
        low = fields.decimal("min_per_transaction", **MONEY)
        high = fields.decimal("max_per_transaction", **MONEY)
        if low is not None and high is not None and high < low:
            fields.fail("max_per_transaction", f"must be at least min_per_transaction ({low})", high)
        if len(fields.errors) > start or percent is None:
            return None
        return cls(
            percent, fixed or ZERO, int(free_n or 0), free_value or ZERO, low, high
        )

    def _walk(self, values: Sequence[Decimal], count_before: int, value_before: Decimal) -> _Walk:
        # While the allowance is open, every earlier transaction was covered whole,
        # so (count_before, value_before) is all the state it needs.
        n_left = self.free_transactions - count_before if self.free_transactions else None
        v_left = self.free_value - value_before if self.free_value else None
        open_ = (n_left is not None or v_left is not None) and (
            (n_left is None or n_left > 0) and (v_left is None or v_left > 0)
        )
        low, high, rate, fixed = (
            self.min_per_transaction, self.max_per_transaction, self._rate, self.fixed_amount
        )
        walk = _Walk()
        for value in values:
            paid = value
            if open_:
                covered = value if v_left is None or value <= v_left else v_left
                paid = value - covered
                if v_left is not None:
                    v_left -= covered
                if n_left is not None:
                    n_left -= 1
                open_ = (n_left is None or n_left > 0) and (v_left is None or v_left > 0)
                walk.covered_value += covered
                if not paid and covered == value:
                    walk.covered_count += 1
                    continue
            walk.paid_count += 1
            walk.paid_value += paid
            fee = paid * rate + fixed
            if low is not None and fee < low:
                walk.raised += 1
                walk.raised_by += low - fee
            elif high is not None and fee > high:
                walk.capped += 1
                walk.capped_by += high - fee
        return walk

    def lines(
        self, values: Sequence[Decimal], count_before: int = 0, value_before: Decimal = ZERO
    ) -> list[BreakdownLine]:
        walk = self._walk(values, count_before, value_before)
        out = []
        if self.free_transactions or self.free_value:
            out.append(BreakdownLine(
                "free-allowance",
                f"{_count(walk.covered_count)} covered by the free allowance"
                f" ({format_grouped(walk.covered_value)} of value free)",
                walk.covered_value, ZERO, ZERO,
            ))
        out.append(BreakdownLine(
            "percentage",
            f"{format_grouped(self.percent)}% of {format_grouped(walk.paid_value)}"
            f" ({_count(walk.paid_count)})",
            walk.paid_value, self._rate, walk.paid_value * self._rate,
        ))
        if self.fixed_amount:
            paid = Decimal(walk.paid_count)
            out.append(BreakdownLine(
                "fixed", f"{_count(walk.paid_count)} x {format_grouped(self.fixed_amount)}",
                paid, self.fixed_amount, paid * self.fixed_amount,
            ))
        if walk.raised:
            out.append(BreakdownLine(
                "min-per-transaction-adjustment",
                f"{_count(walk.raised)} raised to the minimum fee of"
                f" {format_grouped(self.min_per_transaction or ZERO)}",
                ONE, walk.raised_by, walk.raised_by,
            ))
        if walk.capped:
            out.append(BreakdownLine(
                "max-per-transaction-adjustment",
                f"{_count(walk.capped)} capped at the maximum fee of"
                f" {format_grouped(self.max_per_transaction or ZERO)}",
                ONE, walk.capped_by, walk.capped_by,
            ))
        return out

    def amount(
        self, values: Sequence[Decimal], count_before: int = 0, value_before: Decimal = ZERO
    ) -> Decimal:
        walk = self._walk(values, count_before, value_before)
        return (
            walk.paid_value * self._rate + walk.paid_count * self.fixed_amount
            + walk.raised_by + walk.capped_by
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percent": text(self.percent)}
        if self.fixed_amount:
            out["fixed_amount"] = text(self.fixed_amount)
        if self.free_transactions:
            out["free_transactions"] = self.free_transactions
        if self.free_value:
            out["free_value"] = text(self.free_value)
        if self.min_per_transaction is not None:
            out["min_per_transaction"] = text(self.min_per_transaction)
        if self.max_per_transaction is not None:
            out["max_per_transaction"] = text(self.max_per_transaction)
        return out


def _count(n: int) -> str:
    return f"{n:,} transaction" if n == 1 else f"{n:,} transactions"
