"""Monthly billing periods: half-open, on whole UTC hours, anchored in local time.

A period starts at local midnight of the anchor day in the billing timezone
(anchor 31 means the last day of shorter months). Where the timezone's offset is
not a whole hour, the boundary is the whole UTC hour just before local midnight,
so an hourly window never straddles two periods.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from aforo.catalog.model import Period


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def as_utc(at: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def boundary(year: int, month: int, tz: tzinfo, anchor_day: int) -> datetime:
    """The UTC instant a period starts in (year, month)."""
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    local_midnight = datetime(year, month, day, tzinfo=tz)
    return local_midnight.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _step(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def period_containing(at: datetime, timezone: str = "UTC", anchor_day: int = 1) -> Period:
    """The monthly period that holds the instant `at`."""
    at = as_utc(at)
    tz = zone(timezone)
    local = at.astimezone(tz)
    year, month = local.year, local.month
    start = boundary(year, month, tz, anchor_day)
    while at < start:
        year, month = _step(year, month, -1)
        start = boundary(year, month, tz, anchor_day)
    end = boundary(*_step(year, month, 1), tz, anchor_day)
    while at >= end:
        year, month = _step(year, month, 1)
        start, end = end, boundary(*_step(year, month, 1), tz, anchor_day)
    return Period(start, end)
