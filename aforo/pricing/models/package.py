"""`package`: packages = ceil(quantity / package_size) (floor with rounding "down");
amount = packages x package_amount."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.models.base import MONEY, QuantityModel, text
from aforo.pricing.numbers import ZERO, format_grouped


@dataclass(frozen=True, slots=True)
class Package(QuantityModel):
    name = "package"

    package_size: Decimal
    package_amount: Decimal
    rounding: str = "up"

    @classmethod
    def parse(cls, fields: Fields) -> Package | None:
        start = len(fields.errors)
        size = fields.decimal("package_size", required=True, above=ZERO, whole=True)
        amount = fields.decimal("package_amount", required=True, **MONEY)
        rounding = fields.text("rounding", choices=("up", "down")) or "up"
        if len(fields.errors) > start or size is None or amount is None:
            return None
        return cls(size.to_integral_value(), amount, rounding)

    def packages(self, quantity: Decimal) -> Decimal:
        # divmod is exact (no division to a precision): whole packages and the rest.
        whole, rest = divmod(quantity, self.package_size)
        if rest and self.rounding == "up":
            whole += 1
        return whole

    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        count = self.packages(quantity)
        noun = "package" if count == 1 else "packages"
        description = (
            f"{format_grouped(count)} {noun} of {format_grouped(self.package_size)}"
            f" ({format_grouped(quantity)} units) x {format_grouped(self.package_amount)}"
        )
        return [BreakdownLine(
            "package", description, count, self.package_amount, count * self.package_amount,
        )]

    def amount(self, quantity: Decimal) -> Decimal:
        return self.packages(quantity) * self.package_amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "package_size": text(self.package_size),
            "package_amount": text(self.package_amount),
            "rounding": self.rounding,
        }
