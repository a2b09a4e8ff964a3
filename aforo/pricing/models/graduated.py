"""`graduated` (tiered): each unit is priced at the tier it falls in, plus the
flat amount of every tier the quantity has entered (the first tier always)."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from aforo.pricing.breakdown import BreakdownLine, line_sum
from aforo.pricing.fields import Fields
from aforo.pricing.models._tiers import Tier, labels, parse_tiers
from aforo.pricing.models.base import QuantityModel
from aforo.pricing.numbers import CONTEXT, ONE, ZERO, format_grouped


@dataclass(frozen=True, slots=True)
class Graduated(QuantityModel):
    name = "graduated"

    tiers: tuple[Tier, ...]
    # Precomputed at parse time, for speed: the finite bounds, F at each bound, and
    # the lines of every tier below tier i (those tiers are always full).
    _bounds: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)
    _at_bound: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)
    _below: tuple[tuple[BreakdownLine, ...], ...] = field(init=False, repr=False, compare=False)
    _texts: tuple[tuple[str, str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bounds = tuple(t.up_to for t in self.tiers if t.up_to is not None)
        texts = []
        for number, label in enumerate(labels(self.tiers), start=1):
            unit = self.tiers[number - 1].unit_amount
            texts.append((
                f"tier-{number}-unit", f"{label}: ", f" x {format_grouped(unit or ZERO)}",
            ))
        object.__setattr__(self, "_bounds", bounds)
        object.__setattr__(self, "_texts", tuple(texts))
        at_bound, below, total, lower = [], [()], ZERO, ZERO
        with localcontext(CONTEXT):
            for index, upper in enumerate(bounds):
                lines = self._tier_lines(index, upper - lower)
                total += line_sum(lines)
                at_bound.append(total)
                below.append(below[-1] + tuple(lines))
                lower = upper
        object.__setattr__(self, "_at_bound", tuple(at_bound))
        object.__setattr__(self, "_below", tuple(below))

    @classmethod
    def parse(cls, fields: Fields) -> Graduated | None:
        tiers = parse_tiers(fields)
        return None if tiers is None else cls(tiers)

    def _tier_lines(self, index: int, units: Decimal) -> list[BreakdownLine]:
        """The lines of one entered tier holding `units` units."""
        tier = self.tiers[index]
        key, prefix, suffix = self._texts[index]
        out = []
        if tier.unit_amount is not None:
            out.append(BreakdownLine(
                key, f"{prefix}{format_grouped(units)}{suffix}",
                units, tier.unit_amount, units * tier.unit_amount,
            ))
        if tier.flat_amount is not None:
            out.append(BreakdownLine(
                f"tier-{index + 1}-flat", f"{prefix}flat fee",
                ONE, tier.flat_amount, tier.flat_amount,
            ))
        return out

    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        # The quantity lies in tier i: (bounds[i-1], bounds[i]], top inclusive, so
        # bisect_left finds it; the tiers below are full, tier i holds the rest.
        i = bisect_left(self._bounds, quantity)
        lower = self._bounds[i - 1] if i else ZERO
        return [*self._below[i], *self._tier_lines(i, quantity - lower)]

    def amount(self, quantity: Decimal) -> Decimal:
        # Tier i holds (bounds[i-1], bounds[i]]; bisect_left finds it with the
        # top bound inclusive. F = F(lower bound) + units above it + its flat.
        i = bisect_left(self._bounds, quantity)
        tier = self.tiers[i]
        if i == 0:
            base, lower = ZERO, ZERO
        else:
            base, lower = self._at_bound[i - 1], self._bounds[i - 1]
        if tier.unit_amount is not None:
            base += (quantity - lower) * tier.unit_amount
        if tier.flat_amount is not None:
            base += tier.flat_amount
        return base

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": [tier.to_dict() for tier in self.tiers]}
