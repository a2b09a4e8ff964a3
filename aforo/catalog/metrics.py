"""Reading `metrics/*.yaml`: key, unit, aggregation, value_field, sources and filters."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from aforo.catalog.model import (
    AGGREGATIONS,
    EVENT_FIELDS,
    OPS,
    PROPERTY_PREFIX,
    Filter,
    Metric,
    MetricSource,
)
from aforo.pricing.fields import ABSENT, Fields, join, problem, read_decimal
from aforo.pricing.numbers import to_decimal

KEY = r"[a-z][a-z0-9_]{0,62}"
KEY_HINT = "a lowercase identifier (letters, digits, _), like api_calls"
EVENT_TYPE = r"[a-z][a-z0-9_.-]{0,62}"
_PROPERTY = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}"
_NOT_FILTERABLE = {
    "event_type": "is chosen by the source's event_type",
    "event_time": "decides the period, not the metric",
}


def field_kind(name: str) -> str | None:
    """`string`, `number`, `timestamp` or `property`; None for a field the event lacks."""
    if name.startswith(PROPERTY_PREFIX):
        return "property" if re.fullmatch(_PROPERTY, name[len(PROPERTY_PREFIX):]) else None
    return EVENT_FIELDS.get(name)


def _unknown_field(fields: Fields, name: str, value: str) -> None:
    known = ", ".join(EVENT_FIELDS)
    fields.fail(name, f"not a usage event field (one of: {known}, or properties.<name>)", value)


def read_metric(obj: object, errors: list[str]) -> Metric | None:
    fields = Fields(obj, "", errors)
    if not fields.valid:
        return None
    start = len(errors)
    key = fields.text("key", required=True, pattern=KEY, hint=KEY_HINT)
    name = fields.text("name") or key or ""
    description = fields.text("description") or ""
    unit = fields.text("unit", required=True)
    aggregation = fields.text("aggregation", required=True, choices=AGGREGATIONS)
    value_field = fields.text("value_field")
    _check_value_field(fields, aggregation, value_field)
    sources = []
    items = fields.sequence("sources", required=True)
    if fields.has("sources") and not items and isinstance(fields.raw("sources"), list):
        fields.fail("sources", "must list at least one source")
    for index, item in enumerate(items):
        source = _read_source(item, join(fields.at("sources"), index), errors)
        if source is not None:
            sources.append(source)
    fields.finish()
    if len(errors) > start or key is None or unit is None or aggregation is None:
        return None
    return Metric(key, unit, aggregation, value_field, tuple(sources), name, description)


def _check_value_field(fields: Fields, aggregation: str | None, value_field: str | None) -> None:
    if aggregation is None:
        return
    if aggregation == "count":
        if value_field is not None:
            fields.fail("value_field", "not used by aggregation count", value_field)
        return
    if value_field is None:
        if not fields.has("value_field"):
            fields.fail("value_field", f"required for aggregation {aggregation}")
        return
    kind = field_kind(value_field)
    if kind is None:
        _unknown_field(fields, "value_field", value_field)
    elif kind == "timestamp":
        fields.fail("value_field", "cannot aggregate event_time", value_field)
    elif aggregation != "unique_count" and kind == "string":
        fields.fail(
            "value_field",
            f"must be a numeric field for aggregation {aggregation} ({value_field} is text)",
            value_field,
        )


def _read_source(obj: object, path: str, errors: list[str]) -> MetricSource | None:
    fields = Fields(obj, path, errors)
    if not fields.valid:
        return None
    start = len(errors)
    event_type = fields.text(
        "event_type", required=True, pattern=EVENT_TYPE, hint="a lowercase name like api_call"
    )
    filters = []
    for index, item in enumerate(fields.sequence("filters")):
        found = _read_filter(item, join(fields.at("filters"), index), errors)
        if found is not None:
            filters.append(found)
    fields.finish()
    if len(errors) > start or event_type is None:
        return None
    return MetricSource(event_type, tuple(filters))


def _read_filter(obj: object, path: str, errors: list[str]) -> Filter | None:
    fields = Fields(obj, path, errors)
    if not fields.valid:
        return None
    start = len(errors)
    name = fields.text("field", required=True)
    op = fields.text("op", required=True, choices=OPS)
    raw = fields.raw("value", required=True)
    fields.finish()
    kind = None
    if name is not None:
        kind = field_kind(name)
        if kind is None:
            _unknown_field(fields, "field", name)
        elif name in _NOT_FILTERABLE:
            fields.fail("field", f"cannot be filtered on: {name} {_NOT_FILTERABLE[name]}", name)
            kind = None
    if kind is None or op is None or raw is ABSENT or len(errors) > start:
        return None
    if kind == "string" and op not in ("==", "!=", "in"):
        fields.fail("op", f"compares numbers, and {name} is text (use ==, != or in)", op)
        return None
    value: Any
    if op == "in":
        if not isinstance(raw, list) or not raw:
            fields.fail("value", "must be a non-empty list for op in", raw)
            return None
        items = [_operand(x, kind, op, join(fields.at("value"), i), errors) for i, x in enumerate(raw)]
        value = tuple(items)
    else:
        value = _operand(raw, kind, op, fields.at("value"), errors)
    if len(errors) > start:
        return None
    assert name is not None
    return Filter(name, op, value)


def _operand(raw: object, kind: str, op: str, path: str, errors: list[str]) -> Decimal | str:
    """The value a filter compares with: a number for numeric fields and for ordering
    ops, text for text fields; a property takes whichever was written."""
    ordering = op not in ("==", "!=", "in")
    if kind == "number" or ordering:
        return read_decimal(raw, path, errors) or Decimal(0)
    if kind == "property" and not isinstance(raw, str):
        try:
            return to_decimal(raw)
        except ValueError:
            problem(errors, path, "must be a string or a number", raw)
            return ""
    if not isinstance(raw, str):
        problem(errors, path, "must be a string (the field is text)", raw)
        return ""
    return raw
