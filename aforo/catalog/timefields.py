"""Instants written in catalog files (`effective_from`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aforo.pricing.fields import ABSENT, Fields

_HINT = "like 2026-12-01 or 2026-12-01T00:00:00Z"


def read_instant(fields: Fields, name: str, *, required: bool = False) -> datetime | None:
    """A UTC instant on a whole hour. A date alone means midnight UTC; a date-time
    must carry its offset (`Z`, `+02:00`)."""
    raw = fields.raw(name, required=required)
    if raw is ABSENT:
        return None
    value = raw
    if isinstance(raw, str):
        try:
            value = (
                date.fromisoformat(raw) if len(raw.strip()) == 10
                else datetime.fromisoformat(raw.strip())
            )
        except ValueError:
            fields.fail(name, f"must be a date or an ISO 8601 date-time ({_HINT})", raw)
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            fields.fail(name, f"must include a UTC offset ({_HINT})", raw)
            return None
        instant = value.astimezone(UTC)
    elif isinstance(value, date):
        instant = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        fields.fail(name, f"must be a date or an ISO 8601 date-time ({_HINT})", raw)
        return None
    if instant.minute or instant.second or instant.microsecond:
        fields.fail(name, "must be on a whole UTC hour (periods and hourly windows are)", raw)
        return None
    return instant
