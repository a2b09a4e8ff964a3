"""The catalog's values: metrics, plans and their versions, customers. All frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aforo.pricing import Price

# The fields of the usage event (the Avro schema) and how a filter compares them.
# `properties.<name>` fields are strings; a numeric property is a decimal string.
EVENT_FIELDS: Mapping[str, str] = {
    "idempotency_key": "string",
    "tenant_id": "string",
    "source": "string",
    "event_type": "string",
    "event_time": "timestamp",
    "api": "string",
    "route": "string",
    "method": "string",
    "status": "number",
    "latency_ms": "number",
    "request_bytes": "number",
    "response_bytes": "number",
    "value": "number",
}
PROPERTY_PREFIX = "properties."
AGGREGATIONS = ("count", "sum", "max", "unique_count", "latest")
OPS = ("==", "!=", "<", "<=", ">", ">=", "in")


def event_value(event: Mapping[str, Any], name: str) -> Any:
    """A field of a decoded usage event (`properties.x` reads the properties map)."""
    if name.startswith(PROPERTY_PREFIX):
        props = event.get("properties") or {}
        return props.get(name[len(PROPERTY_PREFIX):])
    return event.get(name)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


@dataclass(frozen=True, slots=True)
class Filter:
    """`{field, op, value}`. Numbers (Decimal) compare numerically, strings as
    text; `in` holds a tuple. A missing field or a non-numeric text never matches."""

    field: str
    op: str
    value: Decimal | str | tuple[Decimal | str, ...]

    def matches(self, event: Mapping[str, Any]) -> bool:
        actual = event_value(event, self.field)
        if actual is None:
            return False
        wanted = self.value if isinstance(self.value, tuple) else (self.value,)
        results = []
        for want in wanted:
            have: Any = _number(actual) if isinstance(want, Decimal) else str(actual)
            if have is None:
                results.append(False)
            elif self.op in ("==", "in"):
                results.append(have == want)
            elif self.op == "!=":
                results.append(have != want)
            elif self.op == "<":
                results.append(have < want)
            elif self.op == "<=":
                results.append(have <= want)
            elif self.op == ">":
                results.append(have > want)
            else:
                results.append(have >= want)
        return any(results)


@dataclass(frozen=True, slots=True)
class MetricSource:
    """Events of `event_type` that pass every filter feed the metric."""

    event_type: str
    filters: tuple[Filter, ...] = ()

    def matches(self, event: Mapping[str, Any]) -> bool:
        return event.get("event_type") == self.event_type and all(
            f.matches(event) for f in self.filters
        )


@dataclass(frozen=True, slots=True)
class Metric:
    """What is measured: events matching any source, aggregated over a period."""

    key: str
    unit: str
    aggregation: str
    value_field: str | None
    sources: tuple[MetricSource, ...]
    name: str = ""
    description: str = ""

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(source.matches(event) for source in self.sources)

    def value_of(self, event: Mapping[str, Any]) -> Decimal | str | None:
        """What one event contributes: 1 for count, else its value_field (numbers as
        Decimal; unique_count may count text). None if the field is missing or not numeric."""
        if self.value_field is None:
            return Decimal(1)
        raw = event_value(event, self.value_field)
        if self.aggregation == "unique_count":
            return None if raw is None else str(raw)
        return _number(raw)


@dataclass(frozen=True, slots=True)
class Charge:
    """One priced line of a plan: `metric` is None for a flat fee."""

    key: str
    name: str
    metric: str | None
    price: Price


@dataclass(frozen=True, slots=True)
class PlanVersion:
    version: int
    effective_from: datetime
    currency: str
    period_anchor_day: int
    charges: tuple[Charge, ...]

    def charge(self, key: str) -> Charge | None:
        return next((c for c in self.charges if c.key == key), None)


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan's versions, ascending by `effective_from`."""

    key: str
    name: str
    versions: tuple[PlanVersion, ...]


@dataclass(frozen=True)
class Customer:
    """A tenant. `overrides` replace the price of a plan charge for this customer;
    quotas, caps and alerts are per metric key (units per period); no period that
    ends on or before `billing_start` is invoiced (Catalog.billing_from)."""

    tenant_id: str
    name: str
    email: str
    address: str
    plan: str
    overrides: dict[str, Price] = field(default_factory=dict)
    quotas: dict[str, Decimal] = field(default_factory=dict)
    caps: dict[str, Decimal] = field(default_factory=dict)
    alerts: dict[str, tuple[Decimal, ...]] = field(default_factory=dict)
    timezone: str = "UTC"
    anchor_day: int | None = None
    tax_rate: Decimal = Decimal(0)
    api_keys: tuple[str, ...] = ()
    gateway_consumers: tuple[str, ...] = ()
    billing_start: date | None = None


@dataclass(frozen=True, slots=True)
class ResolvedCharge:
    """A charge as it applies to one tenant at one instant (overrides applied)."""

    charge_key: str
    name: str
    metric: str | None
    price: Price
    plan_key: str
    plan_version: int
    currency: str


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period, half-open [start, end), on whole UTC hours."""

    start: datetime
    end: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Known:
    """What cross-checks compare against while files are read. A key whose file
    did not validate is still known, so it is not also reported as missing."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    metric_keys: frozenset[str] = frozenset()
    plans: dict[str, Plan] = field(default_factory=dict)
    plan_keys: frozenset[str] = frozenset()
