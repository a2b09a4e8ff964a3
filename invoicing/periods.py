"""Which billing period `--period 2026-11` means for each customer.

A label names a month. For each customer it means the period that starts on
that month's anchor day (their anchor day, else their plan's, else 1), at local
midnight in their billing timezone; the catalog does the arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aforo.catalog import Catalog, Period
from aforo.catalog.periods import boundary, zone
from invoicing.errors import PeriodError

_LABEL = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True, slots=True)
class PeriodLabel:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> PeriodLabel:
        match = _LABEL.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise PeriodError(f"period {text!r}: must be a month written YYYY-MM, like 2026-11")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or year < 1970:
            raise PeriodError(f"period {text!r}: no such month")
        return cls(year, month)

    @classmethod
    def of(cls, at: datetime) -> PeriodLabel:
        return cls(at.year, at.month)

    def shift(self, months: int) -> PeriodLabel:
        index = self.year * 12 + self.month - 1 + months
        return PeriodLabel(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def anchor_day(catalog: Catalog, tenant_id: str, label: PeriodLabel) -> int:
    customer = catalog.customers[tenant_id]
    if customer.anchor_day is not None:
        return customer.anchor_day
    probe = datetime(label.year, label.month, 1, tzinfo=UTC)
    try:
        return catalog.plan_version_at(customer.plan, probe).period_anchor_day
    except LookupError:
        return 1


def customer_period(catalog: Catalog, tenant_id: str, label: PeriodLabel) -> Period:
    """The tenant's period that starts on `label`'s anchor day."""
    customer = catalog.customers[tenant_id]
    start = boundary(label.year, label.month, zone(customer.timezone),
                     anchor_day(catalog, tenant_id, label))
    return catalog.period_for(tenant_id, start)


def label_of(catalog: Catalog, tenant_id: str, period: Period) -> PeriodLabel:
    """The label of a tenant's period: the local month its first hour falls in."""
    tz = zone(catalog.customers[tenant_id].timezone)
    return PeriodLabel.of((period.start + timedelta(hours=1)).astimezone(tz))
