"""`per_unit`: amount = quantity x unit_amount."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.models.base import MONEY, QuantityModel, text
from aforo.pricing.numbers import format_grouped


@dataclass(frozen=True, slots=True)
class PerUnit(QuantityModel):
    name = "per_unit"

    unit_amount: Decimal

    @classmethod
    def parse(cls, fields: Fields) -> PerUnit | None:
        unit_amount = fields.decimal("unit_amount", required=True, **MONEY)
        return None if unit_amount is None else cls(unit_amount)

    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        unit = self.unit_amount
        return [BreakdownLine(
            "unit", f"{format_grouped(quantity)} x {format_grouped(unit)}",
            quantity, unit, quantity * unit,
        )]

    def amount(self, quantity: Decimal) -> Decimal:
        return quantity * self.unit_amount

    def to_dict(self) -> dict[str, Any]:
        return {"unit_amount": text(self.unit_amount)}
