"""Tiers, shared by `graduated` and `volume`: parsing, validation and labels."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aforo.pricing.fields import ABSENT, Fields, join, problem, read_decimal
from aforo.pricing.models.base import MONEY, text
from aforo.pricing.numbers import ZERO, format_decimal, format_grouped


@dataclass(frozen=True, slots=True)
class Tier:
    """Covers the quantities in (previous up_to, up_to]; `up_to` None is infinity."""

    up_to: Decimal | None
    unit_amount: Decimal | None = None
    flat_amount: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"up_to": text(self.up_to)}
        if self.unit_amount is not None:
            out["unit_amount"] = text(self.unit_amount)
        if self.flat_amount is not None:
            out["flat_amount"] = text(self.flat_amount)
        return out


def parse_tiers(fields: Fields) -> tuple[Tier, ...] | None:
    """`tiers`: strictly ascending `up_to`, the last one null; None on any error."""
    start = len(fields.errors)
    items = fields.sequence("tiers", required=True)
    if fields.has("tiers") and isinstance(fields.raw("tiers"), list) and not items:
        fields.fail("tiers", "must hold at least one tier")
    tiers: list[Tier] = []
    previous: Decimal | None = None
    for index, item in enumerate(items):
        tier = Fields(item, join(fields.at("tiers"), index), fields.errors)
        if not tier.valid:
            previous = None
            continue
        last = index == len(items) - 1
        written = tier.has("up_to")
        up_to = tier.raw("up_to")
        bound = None
        if not written:
            tier.fail("up_to", "required (null for the last tier)")
        elif up_to is ABSENT:
            if not last:
                tier.fail("up_to", "must be a number: only the last tier may be null (open-ended)")
        else:
            bound = read_decimal(up_to, tier.at("up_to"), fields.errors, above=ZERO)
            if bound is not None and last:
                tier.fail("up_to", "must be null: the last tier is open-ended", bound)
            elif bound is not None and previous is not None and bound <= previous:
                tier.fail(
                    "up_to",
                    f"must be greater than tiers[{index - 1}].up_to ({format_decimal(previous)})",
                    bound,
                )
        previous = bound
        unit_amount = tier.decimal("unit_amount", **MONEY)
        flat_amount = tier.decimal("flat_amount", **MONEY)
        if not tier.has("unit_amount") and not tier.has("flat_amount"):
            problem(fields.errors, tier.path, "needs unit_amount or flat_amount (or both)")
        tier.finish()
        tiers.append(Tier(bound, unit_amount, flat_amount))
    if len(fields.errors) > start:
        return None
    return tuple(tiers)


def labels(tiers: tuple[Tier, ...]) -> tuple[str, ...]:
    """`Tier 1 (up to 10,000)`, `Tier 2 (10,000 to 100,000)`, `Tier 3 (above 100,000)`."""
    out = []
    lower: Decimal | None = None
    for number, tier in enumerate(tiers, start=1):
        if tier.up_to is None:
            span = "all units" if lower is None else f"above {format_grouped(lower)}"
        elif lower is None:
            span = f"up to {format_grouped(tier.up_to)}"
        else:
            span = f"{format_grouped(lower)} to {format_grouped(tier.up_to)}"
        out.append(f"Tier {number} ({span})")
        lower = tier.up_to
    return tuple(out)
