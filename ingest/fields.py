"""Checking and converting one value of an incoming record into a UsageEvent field.

Every function raises EventError(field, problem) naming the field as the
sender wrote it (`properties.region`, `response.status`), so a 422 says what
to fix. Decimals stay exact: JSON numbers arrive as Decimal (parsed from their
text) or int, and leave as their exact text.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from aforo.events import EventError
from aforo.pricing.numbers import fits_decimal
from ingest.config import Limits

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_RFC3339 = re.compile(
    r"((\d{4})-(\d{2})-(\d{2}))[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # 0-9 only: \d would take other scripts' digits
)
# Days since 1970-01-01 of the dates already seen ("2026-11-27"): most events of a
# day share one, so the calendar check runs once a date (bounded, then cleared).
_DAYS: dict[str, int] = {}
_DAYS_MAX = 4096
# Epoch milliseconds of the minutes already seen in UTC times of the usual shape
# ("2026-11-27T10:00:" of "2026-11-27T10:00:05.123Z" or "...:05Z"): the times of a
# batch share a few, so most are read as a dict look-up, two slices and two ints.
_MINUTES: dict[str, int] = {}
_EPOCH_ORDINAL = _EPOCH.toordinal()
# 2000-01-01: anything earlier is a unit mistake (seconds for milliseconds), not an event.
MIN_EVENT_MS = 946_684_800_000
MAX_STATUS = 599
_INT_MAX = (1 << 31) - 1
_LONG_MAX = (1 << 63) - 1
_TIME_DIGITS = 19  # a long's
_VALUE_SCALE = 18
# Quantities become DECIMAL(38, 12) in the metering job (udfs/java UsageEventDeserializer):
# rounded half up to 12 places, at most 26 digits before the point.
QUANTITY_SCALE = 12
QUANTITY_DIGITS = 38 - QUANTITY_SCALE
# A quantity's text as the metering job reads it (UsageEventDeserializer.DECIMAL_TEXT): what
# Flink's cast and DuckDB's both read alike. No NaN, infinity or underscores (Python's Decimal
# takes them), ASCII digits only (not other scripts' digits, which DuckDB refuses), and only
# spaces, tabs and newlines around it (Flink refuses other blanks).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BLANKS = " \t\n"
# The usual quantity ("1534.250"), which fits however it is rounded: no Decimal made.
_PLAIN_QUANTITY = re.compile(r"[0-9]{1,25}(?:\.[0-9]*)?")
_PLAIN_INT_MAX = 10 ** (QUANTITY_DIGITS - 1)


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def text(field: str, value: Any, max_chars: int) -> str:
    """A required, non-blank string of at most `max_chars` characters."""
    if type(value) is not str:
        if value is None:
            raise EventError(field, "is missing")
        raise EventError(field, f"must be a string, got {_show(value)}")
    if not value.strip():
        raise EventError(field, "must not be empty")
    if len(value) > max_chars:
        raise EventError(field, f"is {len(value)} characters long, at most {max_chars} allowed")
    return value


def optional_text(field: str, value: Any, max_chars: int) -> str | None:
    """A string, or None for null, missing, empty or a gateway's "-" placeholder."""
    if value is None or value == "" or value == "-":
        return None
    return text(field, value, max_chars)


def gateway_text(field: str, value: Any, max_chars: int) -> str | None:
    """`optional_text` of a gateway's record, cut to `max_chars` rather than refused: the
    caller picks its path, Host and request id, and a long one must not leave the call
    unmetered."""
    if type(value) is str and len(value) > max_chars:
        value = value[:max_chars]
    return optional_text(field, value, max_chars)


def integer(field: str, value: Any, lo: int = 0, hi: int = _LONG_MAX, *,
            from_text: bool = False) -> int | None:
    """An integer in [lo, hi], or None for null. Gateways that quote every value
    (`"status": "200"`, `"-"` for none) need `from_text`; a decimal such as
    `12.0` is refused, a number must not silently lose its fraction."""
    if value is None:
        return None
    if type(value) is str and from_text:
        if value in ("", "-"):
            return None
        if not re.fullmatch(r"-?\d{1,19}", value, re.ASCII):
            raise EventError(field, f"must be an integer, got {_show(value)}")
        value = int(value)
    if type(value) is not int:
        raise EventError(field, f"must be an integer, got {_show(value)}")
    if not lo <= value <= hi:
        raise EventError(field, f"must be between {lo} and {hi}, got {value}")
    return value


def status(field: str, value: Any, *, from_text: bool = False) -> int | None:
    return integer(field, value, 100, MAX_STATUS, from_text=from_text)


def int32(field: str, value: Any, *, from_text: bool = False) -> int | None:
    return integer(field, value, 0, _INT_MAX, from_text=from_text)


def number(field: str, value: Any, *, from_text: bool = True) -> Decimal | None:
    """A finite decimal from a JSON number (Decimal or int) or, if allowed, a string."""
    if value is None or (from_text and value in ("", "-")):
        return None
    if isinstance(value, bool):
        raise EventError(field, f"must be a number, got {_show(value)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, str) and from_text and len(value) <= 64:
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise EventError(field, f"must be a decimal number, got {_show(value)}") from None
    else:
        raise EventError(field, f"must be a number, got {_show(value)}")
    if not parsed.is_finite():
        raise EventError(field, f"must be a finite number, got {value!r}")
    return parsed


def _time_number(field: str, value: Any) -> Decimal | None:
    """`number`, refused if it has more digits before the point than a time or duration
    here can: 1e1000000 would take a core half a minute to turn into an int (and
    1e999999999999999999 all the memory, or Decimal's Overflow when scaled)."""
    parsed = number(field, value)
    if parsed and parsed.adjusted() >= _TIME_DIGITS:
        raise EventError(field, f"is out of range, got {value!r:.60}")
    return parsed


def millis_from_seconds(field: str, value: Any) -> int | None:
    """Seconds with a fraction (nginx's `$request_time` "0.012") as whole milliseconds."""
    seconds = _time_number(field, value)
    if seconds is None:
        return None
    if seconds < 0:
        raise EventError(field, f"must not be negative, got {value!r}")
    ms = int((seconds * 1000).to_integral_value(ROUND_HALF_UP))
    return int32(field, ms)


def round_millis(field: str, value: Any) -> int | None:
    """A duration in milliseconds that may carry a fraction (APIM's TotalMilliseconds)."""
    ms = _time_number(field, value)
    if ms is None:
        return None
    if ms < 0:
        raise EventError(field, f"must not be negative, got {value!r}")
    return int32(field, int(ms.to_integral_value(ROUND_HALF_UP)))


def _too_large(number: Decimal) -> bool:
    """More than 26 digits before the point once rounded to 12 places, as the job rounds it."""
    return not fits_decimal(number, QUANTITY_DIGITS + QUANTITY_SCALE, QUANTITY_SCALE)


def quantity(field: str, value: Any) -> None:
    """Refuse a quantity the metering job would dead-letter the whole event for (its
    `quantityProblem`): anything but a non-negative decimal that fits DECIMAL(38, 12)."""
    if value is None or (type(value) is int and 0 <= value < _PLAIN_INT_MAX) or (
            type(value) is str and _PLAIN_QUANTITY.fullmatch(value)):
        return  # this runs for every event: the usual case first
    number: Decimal | None = None
    if type(value) is int:
        number = Decimal(value)
    elif type(value) is str and _DECIMAL_TEXT.fullmatch(value.strip(_BLANKS)):
        with contextlib.suppress(InvalidOperation):  # an exponent past Decimal's (and Java's) range
            number = Decimal(value.strip(_BLANKS))
    # Java's scale is an int: a number with a larger exponent is none for BigDecimal.
    if (number is None or number < 0
            or not -_INT_MAX <= int(number.as_tuple().exponent) <= _INT_MAX + 1):
        raise EventError(field, f"not a non-negative decimal number (got {value!r:.60})")
    if _too_large(number):
        raise EventError(field, f"has more than {QUANTITY_DIGITS} digits before the point: "
                                f"{value!r:.60}")


def decimal_value(field: str, value: Any) -> str | None:
    """The event's `value`: exact decimal text, not negative, at most 26 digits before the
    point (as the metering job takes quantities) and 18 places."""
    parsed = number(field, value)
    if parsed is None:
        return None
    if parsed < 0:
        raise EventError(field, f"must not be negative, got {value!r}")
    digits = parsed.as_tuple()
    exponent = int(digits.exponent)
    if exponent < -_VALUE_SCALE:
        raise EventError(field, f"has more than {_VALUE_SCALE} decimal places: {value!r}")
    if _too_large(parsed):
        raise EventError(field, f"has more than {QUANTITY_DIGITS} digits before the point: {value!r}")
    if parsed.is_zero():
        parsed = abs(parsed)
    shown = str(parsed)
    return shown if "E" not in shown else format(parsed, "f")


def rfc3339_millis(field: str, value: Any) -> int:
    """An RFC 3339 time with its offset (`2026-11-27T10:00:00.123Z`) as epoch milliseconds.
    Fractions beyond milliseconds are cut (.NET writes 7 digits)."""
    if type(value) is not str:
        raise EventError(field, f"must be an RFC 3339 time string, got {_show(value)}")
    minute = _MINUTES.get(value[:17])
    if minute is not None:
        # The regular expression below would read the same fields; other seconds go there.
        n, seconds = len(value), value[17:19]
        if n == 24 and value[23] in "Zz" and value[19] == "." and _second(seconds):
            millis = value[20:23]
            if millis.isascii() and millis.isdigit():
                return minute + min(int(seconds), 59) * 1000 + int(millis)
        elif n == 20 and value[19] in "Zz" and _second(seconds):
            return minute + min(int(seconds), 59) * 1000
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise EventError(field, f"must be an RFC 3339 time with an offset "
                                f"(2026-11-27T10:00:00Z), got {value!r:.60}")
    date, _, _, _, h, mi, s, frac, z, sign, oh, om = match.groups()
    days = _DAYS.get(date)
    hour, minute = int(h), int(mi)
    offset_min = 0 if z else int(oh) * 60 + int(om)
    if days is None or hour > 23 or minute > 59 or int(s) > 60 or offset_min >= 1440:
        return _rfc3339_calendar(field, value, match)
    # What _rfc3339_calendar computes, in integers: the date is known to be real.
    start = ((days * 24 + hour) * 60 + minute) * 60_000
    if not offset_min and _usual_utc(value):
        if len(_MINUTES) >= _DAYS_MAX:
            _MINUTES.clear()
        _MINUTES[value[:17]] = start
    ms = start + min(int(s), 59) * 1000
    if frac:
        ms += int(frac[:3].ljust(3, "0"))
    return ms - offset_min * 60_000 if sign != "-" else ms + offset_min * 60_000


def _second(text: str) -> bool:
    """Two ASCII digits of a second, 00 to 60 (60: a leap second, read as 59)."""
    return text.isascii() and text.isdigit() and text <= "60"


def _usual_utc(value: str) -> bool:
    """Seconds, maybe milliseconds, then Z, after a 17-character minute: "...:05.123Z"."""
    n = len(value)
    return ((n == 24 and value[19] == "." and value[20:23].isascii()
             and value[20:23].isdigit()) or n == 20) \
        and value[23 if n == 24 else 19] in "Zz" and _second(value[17:19])


def _rfc3339_calendar(field: str, value: str, match: re.Match[str]) -> int:
    """rfc3339_millis through datetime, which checks the calendar and names what is wrong."""
    date, y, mo, d, h, mi, s, frac, z, sign, oh, om = match.groups()
    if int(s) > 60:
        raise EventError(field, f"is not a real time: {value!r:.60} (second {s}: at most 59,"
                                " or 60 for a leap second)")
    try:
        if z:
            tz = UTC
        else:
            offset = timedelta(hours=int(oh), minutes=int(om))
            tz = timezone(offset if sign == "+" else -offset)  # |offset| < 24h, else ValueError
        at = datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59),
                      int((frac or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError as exc:
        raise EventError(field, f"is not a real time: {value!r:.60} ({exc})") from None
    if len(_DAYS) >= _DAYS_MAX:
        _DAYS.clear()
    _DAYS[date] = at.toordinal() - _EPOCH_ORDINAL  # the date as written, before the offset
    return (at - _EPOCH) // _MS


def epoch_millis(field: str, value: Any) -> int | None:
    """Epoch milliseconds from a number or a string of digits (`"1732712345678"`)."""
    return integer(field, value, 0, _LONG_MAX, from_text=True)


def epoch_seconds_millis(field: str, value: Any) -> int | None:
    """Epoch seconds with a fraction (nginx's `$msec` "1732712345.678") as milliseconds."""
    seconds = _time_number(field, value)
    if seconds is None:
        return None
    return int((seconds * 1000).to_integral_value(ROUND_HALF_UP))


def event_time(field: str, ms: int, now_ms: int, limits: Limits) -> int:
    """Refuse times that cannot be right: before 2000 or too far ahead of now."""
    if ms < MIN_EVENT_MS:
        raise EventError(field, f"{ms} ms is before 2000-01-01 (seconds given for milliseconds?)")
    if ms > now_ms + limits.max_future_s * 1000:
        raise EventError(field, f"is more than {limits.max_future_s}s in the future")
    return ms


def properties(field: str, value: Any, limits: Limits) -> dict[str, str]:
    """A flat object of strings and numbers (numbers as Decimal's exact text: 1e3 is 1E+3)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(field, f"must be an object of strings, got {_show(value)}")
    if len(value) > limits.max_properties:
        raise EventError(field, f"has {len(value)} entries, at most {limits.max_properties} allowed")
    out = {}
    for key, item in value.items():
        name = f"{field}.{key}"
        if not key or len(key) > limits.max_property_key_chars:
            raise EventError(name, f"names must be 1 to {limits.max_property_key_chars} characters")
        if type(item) is str:
            if len(item) > limits.max_text_chars:
                raise EventError(name, f"is {len(item)} characters long, "
                                       f"at most {limits.max_text_chars} allowed")
            out[key] = item
        elif isinstance(item, int | Decimal) and not isinstance(item, bool):
            checked = number(name, item, from_text=False)
            out[key] = str(checked)
        else:
            raise EventError(name, f"must be a string or a number, got {_show(item)}")
    return out


def object_at(field: str, value: Any) -> dict[str, Any]:
    """A nested JSON object, or {} when it is absent or null."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(field, f"must be an object, got {_show(value)}")
    return value
