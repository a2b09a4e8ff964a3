"""Field conversions at their boundaries: decimals stay exact, times are RFC 3339."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aforo.events import EventError
from ingest import fields as f
from ingest.config import Limits

# Shared with the metering job's test (tests/jobs/test_metering.py), which sends each one through
# the job's format, Flink's cast and DuckDB's.
QUANTITY_TEXTS = json.loads((Path(__file__).parents[1] / "quantity_texts.json").read_text())


@pytest.mark.parametrize("given, text", [
    (Decimal("12.50"), "12.50"), (5, "5"), ("0.10", "0.10"), (Decimal("1E+3"), "1000"),
    (Decimal("1E-7"), "0.0000001"), ("-0", "0"), (Decimal("0.000000000000000001"),
                                                  "0.000000000000000001"),
    ("99999999999999999999999999.999999999999", "99999999999999999999999999.999999999999"),
    (None, None), (" 7 ", "7"),
])
def test_decimal_value_is_exact(given: Any, text: str | None) -> None:
    assert f.decimal_value("value", given) == text


@pytest.mark.parametrize("given, problem", [
    ("abc", "must be a decimal number"), (True, "must be a number, got bool"),
    (Decimal("-0.01"), "must not be negative"), ("NaN", "must be a finite number"),
    ("Infinity", "must be a finite number"), ("1" * 27, "more than 26 digits before the point"),
    (Decimal("1E+26"), "more than 26 digits before the point"),
    ("123456789012345678901234567890", "more than 26 digits before the point"),
    ("99999999999999999999999999.9999999999995", "more than 26 digits before the point"),
    ("0." + "0" * 18 + "1", "more than 18 decimal"),
    ([1], "must be a number, got list"),
])
def test_decimal_value_refusals(given: Any, problem: str) -> None:
    with pytest.raises(EventError, match=problem):
        f.decimal_value("value", given)


@pytest.mark.parametrize("given", [
    None, 0, 7, "0", "-0", "1534.250", " 12 ", "1e3", "1.5E+3", ".5", "5.", "+5",
    "1" * 26, "99999999999999999999999999.9999999999994", "0." + "0" * 30 + "1",
])
def test_quantities_the_metering_job_takes(given: Any) -> None:
    f.quantity("properties.compute_ms", given)


@pytest.mark.parametrize("given", QUANTITY_TEXTS["accepted"])
def test_quantity_texts_the_metering_job_bills(given: str) -> None:
    f.quantity("properties.compute_ms", given)


@pytest.mark.parametrize("given", QUANTITY_TEXTS["refused"])
def test_quantity_texts_the_metering_job_dead_letters(given: str) -> None:
    with pytest.raises(EventError) as caught:
        f.quantity("properties.compute_ms", given)
    assert caught.value.field == "properties.compute_ms"


@pytest.mark.parametrize("given, problem", [
    ("abc", "not a non-negative decimal number (got 'abc')"),
    ("-5", "not a non-negative decimal number (got '-5')"),
    (-1, "not a non-negative decimal number (got -1)"),
    ("", "not a non-negative decimal number (got '')"),
    ("-", "not a non-negative decimal number (got '-')"),
    ("NaN", "not a non-negative decimal number (got 'NaN')"),
    ("Infinity", "not a non-negative decimal number (got 'Infinity')"),
    ("1_000", "not a non-negative decimal number (got '1_000')"),  # Python reads it, Java not
    ("1e-3000000000", "not a non-negative decimal number"),       # beyond Java's int scale
    (1.5, "not a non-negative decimal number (got 1.5)"),
    ("1" * 27, "has more than 26 digits before the point: '111"),
    ("1e26", "has more than 26 digits before the point: '1e26'"),
    ("99999999999999999999999999.9999999999995", "has more than 26 digits before the point"),
])
def test_quantities_the_metering_job_dead_letters(given: Any, problem: str) -> None:
    """The job's `UsageEventDeserializer.quantityProblem` refuses each of these."""
    with pytest.raises(EventError) as caught:
        f.quantity("properties.compute_ms", given)
    assert caught.value.field == "properties.compute_ms"
    assert caught.value.problem.startswith(problem)


@pytest.mark.parametrize("given, ms", [
    ("2026-11-27T10:00:00Z", 1795773600000),
    ("2026-11-27T10:00:00.123Z", 1795773600123),
    ("2026-11-27T10:00:00.1239999Z", 1795773600123),  # .NET's 7 digits, cut not rounded
    ("2026-11-27T11:00:00+01:00", 1795773600000),
    ("2026-11-27t10:00:00z", 1795773600000),
    ("2026-11-27 10:00:00-00:30", 1795775400000),
    ("1970-01-01T00:00:00.001Z", 1),
])
def test_rfc3339(given: str, ms: int) -> None:
    assert f.rfc3339_millis("t", given) == ms


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(-23 * 60 - 59, 23 * 60 + 59), st.sampled_from(["", ".", "-", "Z"]),
       st.integers(1, 9), st.integers(0, 60))
def test_rfc3339_arithmetic_agrees_with_the_calendar(at: datetime, offset_min: int, style: str,
                                                     digits: int, second: int) -> None:
    """The integer path (a date seen before) gives what datetime gives."""
    sign = "-" if offset_min < 0 else "+"
    zone = "Z" if style == "Z" else f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    fraction = f".{at.microsecond:06d}000"[:digits + 1] if style in (".", "-") else ""
    text = f"{at.year:04d}-{at:%m-%dT%H:%M}:{second:02d}{fraction}{zone}"
    match = f._RFC3339.fullmatch(text)
    assert match is not None
    expected = f._rfc3339_calendar("t", text, match)  # also makes the date known
    assert f.rfc3339_millis("t", text) == expected
    assert f.rfc3339_millis("t", text) == expected  # the minute is known too now


@pytest.mark.parametrize("given", [
    "2026-11-27T10:00:05.123Z", "2026-11-27T10:00:05Z", "2026-11-27T10:00:05.123z",
    "2026-11-27T10:00:05.12Z", "2026-11-27T10:00:05.1234Z", "2026-11-27T10:00:05.123+01:00",
    "2026-11-27T10:00:60.999Z", "2026-11-27T10:00:99Z", "2026-11-27T10:00:\u0665\u0665Z",
    "2026-11-27T10:00:05.\u0661\u0662\u0663Z", "2026-11-27T10:00:0x.123Z", "2026-11-27T10:00:05.12xZ",
    "2026-11-27T10:00:05.123", "2026-11-27T10:00:05.123Q", "2026-11-27T10:00:05 Z",
    " 2026-11-27T10:00:05.12Z", "2026-11-27T10:00:05.123Z ",
])
def test_a_known_minute_reads_as_the_regular_expression_does(given: str) -> None:
    """Times of a minute seen before skip the regular expression: same result or refusal."""
    f._MINUTES.clear()
    f._DAYS.clear()
    match = f._RFC3339.fullmatch(given.strip())
    expected: Any = EventError
    with contextlib.suppress(EventError):  # a second past 60 is refused by either path
        expected = EventError if match is None else f._rfc3339_calendar("t", given, match)
    for _ in range(2):  # the date, then the minute
        f.rfc3339_millis("t", "2026-11-27T10:00:00.000Z")
    assert "2026-11-27T10:00:" in f._MINUTES
    if expected is EventError:
        with pytest.raises(EventError):
            f.rfc3339_millis("t", given)
    else:
        assert f.rfc3339_millis("t", given) == expected


@pytest.mark.parametrize("given", ["2026-11-27", "2026-11-27T10:00:00", "27/11/2026 10:00",
                                   "2026-13-01T00:00:00Z", "2026-11-27T10:00Z", 1795773600,
                                   "2026-11-27T24:00:00Z", "2026-11-27T10:60:00Z",
                                   "2026-11-27T10:00:00+24:00", "2026-02-29T10:00:00Z",
                                   "2026-11-30T23:59:61Z", "2026-11-30T23:59:99.5Z",
                                   "\u0662\u0660\u0662\u0666-11-27T10:00:00Z", "2026-11-27T10:00:\u0665\u0665Z"])
def test_rfc3339_refusals(given: Any) -> None:
    f.rfc3339_millis("t", "2026-11-27T10:00:00Z")  # a known date: the refusals still hold
    with pytest.raises(EventError):
        f.rfc3339_millis("t", given)


def test_event_time_bounds() -> None:
    limits = Limits(max_future_s=60)
    now = 1795773600000
    assert f.event_time("t", now + 60_000, now, limits) == now + 60_000
    with pytest.raises(EventError, match="more than 60s in the future"):
        f.event_time("t", now + 60_001, now, limits)
    with pytest.raises(EventError, match="seconds given for milliseconds"):
        f.event_time("t", 1795773600, now, limits)


@pytest.mark.parametrize("given, ms", [("0.012", 12), ("1.5015", 1502), ("0.0005", 1),
                                       ("0.000", 0), ("-", None), (None, None)])
def test_seconds_to_millis(given: Any, ms: int | None) -> None:
    assert f.millis_from_seconds("request_time", given) == ms


@pytest.mark.parametrize("given, value", [("200", 200), (200, 200), ("-", None), ("", None)])
def test_integers_from_gateway_text(given: Any, value: int | None) -> None:
    assert f.status("status", given, from_text=True) == value


@pytest.mark.parametrize("given", ["2OO", "200.0", Decimal("200.0"), True, "99", 600])
def test_integer_refusals(given: Any) -> None:
    with pytest.raises(EventError):
        f.status("status", given, from_text=True)


def test_properties_keep_number_text() -> None:
    limits = Limits()
    assert f.properties("p", {"a": Decimal("1.50"), "b": 3, "c": "x"}, limits) == {
        "a": "1.50", "b": "3", "c": "x"}
    with pytest.raises(EventError, match="p.d: must be a string or a number, got bool"):
        f.properties("p", {"d": False}, limits)
