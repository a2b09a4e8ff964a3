"""`volume`: the whole quantity is priced at the one tier it falls in (the first
with quantity <= up_to, else the last): flat_amount + quantity x unit_amount."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.models._tiers import Tier, labels, parse_tiers
from aforo.pricing.models.base import QuantityModel
from aforo.pricing.numbers import ONE, ZERO, format_grouped


@dataclass(frozen=True, slots=True)
class Volume(QuantityModel):
    name = "volume"

    tiers: tuple[Tier, ...]
    _bounds: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)
    _labels: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bounds = tuple(t.up_to for t in self.tiers if t.up_to is not None)
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_labels", labels(self.tiers))

    @classmethod
    def parse(cls, fields: Fields) -> Volume | None:
        tiers = parse_tiers(fields)
        return None if tiers is None else cls(tiers)

    def tier_index(self, quantity: Decimal) -> int:
        """0-based index of the tier the whole quantity is priced at (0 at quantity 0)."""
        return bisect_left(self._bounds, quantity)

    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        index = self.tier_index(quantity)
        tier, label, number = self.tiers[index], self._labels[index], index + 1
        out = []
        if tier.unit_amount is not None:
            out.append(BreakdownLine(
                f"tier-{number}-unit",
                f"{label}: {format_grouped(quantity)} x {format_grouped(tier.unit_amount)}",
                quantity, tier.unit_amount, quantity * tier.unit_amount,
            ))
        if tier.flat_amount is not None:
            out.append(BreakdownLine(
                f"tier-{number}-flat", f"{label}: flat fee", ONE, tier.flat_amount, tier.flat_amount,
            ))
        return out

    def amount(self, quantity: Decimal) -> Decimal:
        tier = self.tiers[bisect_left(self._bounds, quantity)]
        total = ZERO if tier.unit_amount is None else quantity * tier.unit_amount
        return total if tier.flat_amount is None else total + tier.flat_amount

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": [tier.to_dict() for tier in self.tiers]}
