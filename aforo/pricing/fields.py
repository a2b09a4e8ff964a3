"""Reading a YAML/JSON mapping field by field, collecting every error with its path.

Used by the price parser and by the catalog loader, so both report problems the
same way: `<path>: <rule> (got <value>)`, one line per problem, all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aforo.pricing.numbers import ZERO, NotADecimal, decimal_places, show, to_decimal

ABSENT: Any = object()


def join(path: str, name: str | int) -> str:
    """`price` + `tiers` -> `price.tiers`; `price.tiers` + 2 -> `price.tiers[2]`."""
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def problem(errors: list[str], path: str, message: str, value: object = ABSENT) -> None:
    shown = "" if value is ABSENT else f" (got {show(value)})"
    errors.append(f"{path}: {message}{shown}")


def read_decimal(
    value: object,
    path: str,
    errors: list[str],
    *,
    minimum: Decimal | None = None,
    above: Decimal | None = None,
    maximum: Decimal | None = None,
    whole: bool = False,
    places: int | None = None,
) -> Decimal | None:
    """One decimal checked against the rules given; None (and an error) if it fails."""
    try:
        number = to_decimal(value)
    except NotADecimal as exc:
        problem(errors, path, str(exc), value)
        return None
    failed = None
    if minimum is not None and number < minimum:
        failed = "must not be negative" if minimum == ZERO else f"must be at least {minimum}"
    elif above is not None and number <= above:
        failed = f"must be greater than {above}"
    elif maximum is not None and number > maximum:
        failed = f"must be at most {maximum}"
    elif whole and number != number.to_integral_value():
        failed = "must be a whole number"
    elif places is not None and decimal_places(number) > places:
        failed = f"must have at most {places} decimal places"
    if failed:
        problem(errors, path, failed, number)
        return None
    return number


class Fields:
    """One mapping being read. Every accessor marks the field as known; `finish`
    reports the fields nobody asked for as unknown."""

    def __init__(self, obj: object, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.valid = isinstance(obj, Mapping)
        self._obj: Mapping[Any, Any] = obj if isinstance(obj, Mapping) else {}
        self._seen: set[str] = set()
        if not self.valid:
            problem(errors, path or "(top level)", "must be a mapping", obj)

    def at(self, name: str | int) -> str:
        return join(self.path, name)

    def fail(self, name: str, message: str, value: object = ABSENT) -> None:
        problem(self.errors, self.at(name), message, value)

    def has(self, name: str) -> bool:
        return name in self._obj

    def raw(self, name: str, *, required: bool = False) -> Any:
        """The value as written (ABSENT if missing); None counts as missing."""
        self._seen.add(name)
        value = self._obj.get(name, ABSENT)
        if value is None:
            value = ABSENT
        if value is ABSENT and required and self.valid:
            self.fail(name, "required")
        return value

    def decimal(self, name: str, *, required: bool = False, **rules: Any) -> Decimal | None:
        value = self.raw(name, required=required)
        if value is ABSENT:
            return None
        return read_decimal(value, self.at(name), self.errors, **rules)

    def integer(
        self, name: str, *, required: bool = False, minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self.raw(name, required=required)
        if value is ABSENT:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, "must be a whole number", value)
            return None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.fail(name, f"must be between {minimum} and {maximum}", value)
            return None
        return value

    def text(
        self, name: str, *, required: bool = False, pattern: str | None = None,
        choices: tuple[str, ...] | None = None, hint: str = "",
    ) -> str | None:
        value = self.raw(name, required=required)
        if value is ABSENT:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(name, "must be a non-empty string", value)
            return None
        if choices is not None and value not in choices:
            self.fail(name, f"must be one of: {', '.join(choices)}", value)
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(name, f"must match {hint or pattern}", value)
            return None
        return value

    def sequence(self, name: str, *, required: bool = False) -> list[Any]:
        value = self.raw(name, required=required)
        if value is ABSENT:
            return []
        if not isinstance(value, list):
            self.fail(name, "must be a list", value)
            return []
        return value

    def mapping(self, name: str, *, required: bool = False) -> Mapping[Any, Any]:
        value = self.raw(name, required=required)
        if value is ABSENT:
            return {}
        if not isinstance(value, Mapping):
            self.fail(name, "must be a mapping", value)
            return {}
        return value

    def finish(self, allowed_hint: bool = True) -> None:
        """Report every field that no accessor asked for."""
        known = sorted(self._seen)
        for key in self._obj:
            if key not in self._seen:
                allowed = f" (allowed: {', '.join(known)})" if allowed_hint else ""
                problem(self.errors, self.at(str(key)), f"unknown field{allowed}")
