"""`flat`: `amount`, charged once per period whatever the usage (a platform fee)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.models.base import MONEY, QuantityModel, text
from aforo.pricing.numbers import ONE


@dataclass(frozen=True, slots=True)
class Flat(QuantityModel):
    """F(x) is the same for every x, so an hour's increment is always 0; the
    period close charges F(0), which is the fee."""

    name = "flat"

    fee: Decimal

    @classmethod
    def parse(cls, fields: Fields) -> Flat | None:
        fee = fields.decimal("amount", required=True, **MONEY)
        return None if fee is None else cls(fee)

    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        return [BreakdownLine("flat", "Flat fee", ONE, self.fee, self.fee)]

    def amount(self, quantity: Decimal) -> Decimal:
        return self.fee

    def to_dict(self) -> dict[str, Any]:
        return {"amount": text(self.fee)}
