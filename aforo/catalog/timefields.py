"""Instants and dates written in catalog files (`effective_from`, `billing_start`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from aforo.pricing.fields import ABSENT, Fields

_HINT = "like 2026-12-01 or 2026-12-01T00:00:00Z"
# ISO 8601's extended forms only: Python's fromisoformat also takes week dates
# (2026-W49-1) and basic forms (20261207), which nobody means in a price list.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")


def read_instant(fields: Fields, name: str, *, required: bool = False) -> datetime | None:
    """A UTC instant on a whole hour. A date alone means midnight UTC; a date-time
    must carry its offset (`Z`, `+02:00`)."""
    raw = fields.raw(name, required=required)
    if raw is ABSENT:
        return None
    value = raw
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if _DATE.fullmatch(text):
                value = date.fromisoformat(text)
            elif _DATE_TIME.fullmatch(text):
                value = datetime.fromisoformat(text)
            else:
                raise ValueError(text)
        except ValueError:
            fields.fail(name, f"must be a date or an ISO 8601 date-time ({_HINT})", raw)
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            fields.fail(name, f"must include a UTC offset ({_HINT})", raw)
            return None
        try:
            instant = value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            fields.fail(name, "is out of range in UTC (years 1 to 9999)", raw)
            return None
    elif isinstance(value, date):
        instant = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        fields.fail(name, f"must be a date or an ISO 8601 date-time ({_HINT})", raw)
        return None
    if instant.minute or instant.second or instant.microsecond:
        fields.fail(name, "must be on a whole UTC hour (periods and hourly windows are)", raw)
        return None
    return instant


def read_date(fields: Fields, name: str) -> date | None:
    """A calendar date, `YYYY-MM-DD` (YAML reads one unquoted as a date already)."""
    raw = fields.raw(name)
    if raw is ABSENT:
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    text = raw.strip() if isinstance(raw, str) else ""
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # no such day: 2026-13-01
    fields.fail(name, "must be a date written YYYY-MM-DD, like 2026-12-01", raw)
    return None
