"""Billing periods: half-open, on whole UTC hours, local midnight of the anchor day."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aforo.catalog import Period, period_containing


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("at", "tz", "anchor", "start", "end"), [
    pytest.param(utc(2026, 3, 10), "UTC", 1, utc(2026, 3, 1), utc(2026, 4, 1), id="calendar"),
    pytest.param(utc(2026, 3, 1), "UTC", 1, utc(2026, 3, 1), utc(2026, 4, 1),
                 id="start-is-inside"),
    pytest.param(utc(2026, 3, 31, 23, 59), "UTC", 1, utc(2026, 3, 1), utc(2026, 4, 1),
                 id="end-is-outside"),
    pytest.param(utc(2026, 2, 10), "UTC", 31, utc(2026, 1, 31), utc(2026, 2, 28),
                 id="anchor-31-february"),
    pytest.param(utc(2026, 3, 5), "UTC", 31, utc(2026, 2, 28), utc(2026, 3, 31),
                 id="anchor-31-after-february"),
    pytest.param(utc(2028, 2, 29, 12), "UTC", 31, utc(2028, 2, 29), utc(2028, 3, 31),
                 id="anchor-31-leap-year"),
    pytest.param(utc(2026, 4, 30, 1), "UTC", 31, utc(2026, 4, 30), utc(2026, 5, 31),
                 id="anchor-31-april"),
    pytest.param(utc(2026, 2, 20), "UTC", 30, utc(2026, 1, 30), utc(2026, 2, 28),
                 id="anchor-30-february"),
    pytest.param(utc(2026, 1, 20), "America/New_York", 15, utc(2026, 1, 15, 5),
                 utc(2026, 2, 15, 5), id="new-york-winter"),
    pytest.param(utc(2026, 7, 20), "America/New_York", 15, utc(2026, 7, 15, 4),
                 utc(2026, 8, 15, 4), id="new-york-summer"),
    pytest.param(utc(2026, 3, 15, 4, 30), "America/New_York", 15, utc(2026, 3, 15, 4),
                 utc(2026, 4, 15, 4), id="new-york-after-local-midnight"),
    pytest.param(utc(2026, 3, 15, 3, 59), "America/New_York", 15, utc(2026, 2, 15, 5),
                 utc(2026, 3, 15, 4), id="new-york-dst-month"),
    pytest.param(utc(2026, 1, 31, 18, 15), "Asia/Kolkata", 1, utc(2026, 1, 31, 18),
                 utc(2026, 2, 28, 18), id="kolkata-half-hour-floors"),
    pytest.param(utc(2026, 1, 31, 17, 59), "Asia/Kolkata", 1, utc(2025, 12, 31, 18),
                 utc(2026, 1, 31, 18), id="kolkata-before"),
    pytest.param(utc(2026, 1, 10), "Asia/Kathmandu", 1, utc(2025, 12, 31, 18),
                 utc(2026, 1, 31, 18), id="kathmandu-quarter-hour"),
    pytest.param(utc(2026, 1, 10), "America/St_Johns", 1, utc(2026, 1, 1, 3),
                 utc(2026, 2, 1, 3), id="st-johns-minus-3h30"),
    pytest.param(utc(2026, 7, 10), "America/St_Johns", 1, utc(2026, 7, 1, 2),
                 utc(2026, 8, 1, 2), id="st-johns-summer"),
    pytest.param(utc(2026, 1, 10), "Pacific/Kiritimati", 1, utc(2025, 12, 31, 10),
                 utc(2026, 1, 31, 10), id="plus-14"),
])
def test_period_table(at, tz, anchor, start, end) -> None:
    period = period_containing(at, tz, anchor)
    assert period == Period(start, end)
    assert at in period


def test_naive_instants_are_utc() -> None:
    assert period_containing(datetime(2026, 3, 10)) == Period(utc(2026, 3, 1), utc(2026, 4, 1))


ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns",
         "Australia/Lord_Howe", "America/Santiago", "Europe/London", "Pacific/Chatham"]


@settings(deadline=None, max_examples=300)
@example(datetime(2000, 10, 1), "America/St_Johns", 29)  # clocks went back at 00:01 then
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1)),
       st.sampled_from(ZONES), st.integers(1, 31))
def test_periods_tile_time_on_whole_hours(naive: datetime, tz: str, anchor: int) -> None:
    at = naive.replace(tzinfo=UTC)
    period = period_containing(at, tz, anchor)
    assert period.start <= at < period.end
    for edge in (period.start, period.end):
        assert edge.tzinfo is UTC and (edge.minute, edge.second, edge.microsecond) == (0, 0, 0)
        # the edge is the whole UTC hour at or just before local midnight of the anchor day:
        # the latest local date that hour shows (not its last instant's: where clocks went
        # back just after midnight, as in St. John's until 2011, that is the day before)
        day = max((edge + timedelta(minutes=m)).astimezone(ZoneInfo(tz)).date() for m in range(60))
        assert day.day == min(anchor, calendar.monthrange(day.year, day.month)[1])
        midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)
        assert edge <= midnight < edge + timedelta(hours=1)
    assert period_containing(period.end, tz, anchor).start == period.end
    assert period_containing(period.start - timedelta(microseconds=1), tz, anchor).end == \
        period.start
    assert timedelta(days=27) <= period.end - period.start <= timedelta(days=32)
