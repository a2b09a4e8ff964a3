"""The one SQL the close generates: which archived events feed which metric.

A metric's sources and filters are data in the catalog, so the DuckDB query that
maps events to metrics is written from them here, the only place that does it.
Field names come from the event schema (a fixed list the catalog checks); every
catalog value (metric key, event type, filter operand, property name) is a named
parameter, never text in the SQL. `explain()` prints what was generated.

Each row of `metric_events` is one (event, metric) pair:
tenant_id, metric, aggregation (the metric's), api, event_time, idempotency_key,
num (the event's decimal contribution: 1 for count), txt (its text value, for
unique_count).
The semantics follow `aforo.catalog.Metric`: numbers compare numerically, text
as text, and a missing or non-numeric field never matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pyarrow as pa

from aforo.catalog import EVENT_FIELDS, Filter, Metric
from aforo.catalog.model import PROPERTY_PREFIX
from aforo.tables import EVENTS

QUANTITY = "DECIMAL(38, 12)"
_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SOURCES = ("events", "earlier_events")


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def add(self, value: object) -> str:
        name = f"mp{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _field(name: str, params: _Params) -> tuple[str, bool]:
    """The event field as SQL, and whether it is stored as an integer column
    (else as text: `value` and properties are decimal strings)."""
    if name.startswith(PROPERTY_PREFIX):
        return f"properties[{params.add(name[len(PROPERTY_PREFIX):])}]", False
    if name not in EVENT_FIELDS:
        raise ValueError(f"{name!r} is not a usage event field")
    return f'"{name}"', pa.types.is_integer(EVENTS.field(name).type)


def _number(field: tuple[str, bool]) -> str:
    expr, integer = field
    return f"CAST({expr} AS {QUANTITY})" if integer else f"TRY_CAST({expr} AS {QUANTITY})"


def _text(field: tuple[str, bool]) -> str:
    expr, integer = field
    return f"CAST({expr} AS VARCHAR)" if integer else expr


def _condition(flt: Filter, params: _Params) -> str:
    wanted = flt.value if isinstance(flt.value, tuple) else (flt.value,)
    field = _field(flt.field, params)
    op = "=" if flt.op == "in" else _OPS[flt.op]
    terms = []
    for value in wanted:
        if isinstance(value, Decimal):
            terms.append(f"{_number(field)} {op} CAST({params.add(str(value))} AS {QUANTITY})")
        else:
            terms.append(f"{_text(field)} {op} {params.add(value)}")
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def _contribution(metric: Metric, params: _Params) -> tuple[str, str, str | None]:
    """(num, txt, a NOT NULL condition) of one event for this metric."""
    if metric.value_field is None:
        return f"CAST(1 AS {QUANTITY})", "CAST(NULL AS VARCHAR)", None
    field = _field(metric.value_field, params)
    if metric.aggregation == "unique_count":
        text = _text(field)
        return f"CAST(1 AS {QUANTITY})", text, f"{text} IS NOT NULL"
    number = _number(field)
    return number, "CAST(NULL AS VARCHAR)", f"{number} IS NOT NULL"


def metric_events_sql(
    metrics: Mapping[str, Metric], source: str = "events"
) -> tuple[str, dict[str, object]]:
    """A SELECT of every (event, metric) pair from `source`, and its parameters."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    params = _Params()
    selects = []
    for key in sorted(metrics):
        metric = metrics[key]
        num, txt, present = _contribution(metric, params)
        alternatives = []
        for src in metric.sources:
            conds = [f"event_type = {params.add(src.event_type)}"]
            conds += [_condition(f, params) for f in src.filters]
            alternatives.append("(" + " AND ".join(conds) + ")")
        where = "(" + "\n    OR ".join(alternatives) + ")"
        if present is not None:
            where += f"\n  AND {present}"
        selects.append(
            f"SELECT tenant_id, {params.add(key)} AS metric,"
            f" {params.add(metric.aggregation)} AS aggregation, COALESCE(api, '') AS api,"
            f" event_time, idempotency_key,\n       {num} AS num, {txt} AS txt\n"
            f"FROM {source}\nWHERE {where}"
        )
    if not selects:
        selects.append(
            f"SELECT tenant_id, NULL AS metric, NULL AS aggregation, '' AS api, event_time,"
            " idempotency_key,"
            f" CAST(NULL AS {QUANTITY}) AS num, CAST(NULL AS VARCHAR) AS txt\n"
            f"FROM {source} WHERE false"
        )
    return "\nUNION ALL\n".join(selects), params.values


def with_metric_events(
    body: str, metrics: Mapping[str, Metric], source: str = "events"
) -> tuple[str, dict[str, object]]:
    """`body` (a SELECT that reads `metric_events`) with the generated SQL in front."""
    generated, params = metric_events_sql(metrics, source)
    return f"WITH metric_events AS (\n{generated}\n)\n{body}", params


def explain(metrics: Mapping[str, Metric]) -> str:
    """The generated SQL and its parameters, as `aforo close --show-sql` prints them."""
    sql, params = metric_events_sql(metrics)
    listed = "\n".join(f"--   ${name} = {value!r}" for name, value in params.items())
    return f"-- metric_events (generated from the catalog)\n{sql};\n-- parameters:\n{listed}\n"
