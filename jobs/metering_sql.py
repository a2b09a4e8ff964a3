"""The metering job's SQL: fixed statements from sql/metering/*.sql, and the metric
extraction and hourly aggregation generated from the typed catalog.

`aforo job explain` prints all of it, in the order the job runs it. Catalog
values (event types, filter operands) become SQL literals through `literal()`,
the one place that quotes them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from aforo.catalog import Catalog
from aforo.catalog.model import PROPERTY_PREFIX, Filter, Metric
from aforo.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql" / "metering"
QUANTITY = "DECIMAL(38, 12)"
_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "IN"}
# Flink SQL reserved words among the event's fields.
_QUOTED = {"value", "method", "source"}


def literal(value: Decimal | str) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return "'" + str(value).replace("'", "''") + "'"


def column(field: str, numeric: bool = False) -> str:
    if field.startswith(PROPERTY_PREFIX):
        expr = f"properties[{literal(field[len(PROPERTY_PREFIX):])}]"
        return f"TRY_CAST({expr} AS {QUANTITY})" if numeric else expr
    name = f"`{field}`" if field in _QUOTED else field
    return f"TRY_CAST({name} AS {QUANTITY})" if numeric and field == "value" else name


def _condition(f: Filter) -> str:
    values = f.value if isinstance(f.value, tuple) else (f.value,)
    numeric = isinstance(values[0], Decimal)
    lhs = column(f.field, numeric=numeric)
    if f.op == "in":
        return f"{lhs} IN ({', '.join(literal(v) for v in values)})"
    return f"{lhs} {_OPS[f.op]} {literal(values[0])}"


def _quantity(metric: Metric) -> tuple[str, str]:
    """(quantity expression, unique-value expression) of one event for a metric."""
    if metric.aggregation == "count":
        return f"CAST(1 AS {QUANTITY})", "CAST(NULL AS STRING)"
    assert metric.value_field is not None
    if metric.aggregation == "unique_count":
        return f"CAST(1 AS {QUANTITY})", f"CAST({column(metric.value_field)} AS STRING)"
    return f"CAST({column(metric.value_field, numeric=True)} AS {QUANTITY})", "CAST(NULL AS STRING)"


METRIC_ROW = f"ROW<metric STRING, row_api STRING, quantity {QUANTITY}, unique_value STRING>"
TRANSACTION = f"ROW<event_time TIMESTAMP(3), idempotency_key STRING, `value` {QUANTITY}>"
TRANSACTIONS = f"ARRAY<{TRANSACTION}>"


def metric_rows_sql(catalog: Catalog) -> str:
    """One row per (event, metric) it feeds: the M:N mapping, from the catalog.

    One pass per event: an array with one element per metric (its quantity, or
    NULL when the event does not feed it), unnested, NULLs dropped. A metric
    priced per transaction is rated in strict event-time order across the
    tenant's APIs, so its rows carry api ''.
    """
    values = catalog.value_metrics()
    elements = []
    for key in sorted(catalog.metrics):
        metric = catalog.metrics[key]
        quantity, unique = _quantity(metric)
        matches = []
        for source in metric.sources:
            where = [f"event_type = {literal(source.event_type)}"] + [_condition(f) for f in source.filters]
            # A NULL quantity drops the row; unique_count's quantity is 1, so check its value.
            if metric.aggregation == "unique_count" and metric.value_field is not None:
                where.append(f"{column(metric.value_field)} IS NOT NULL")
            matches.append("(" + " AND ".join(where) + ")")
        api = "''" if key in values else "COALESCE(api, '')"
        elements.append(f"  CAST(ROW({literal(key)}, {api},\n"
                        f"           CASE WHEN {' OR '.join(matches)} THEN {quantity} END,\n"
                        f"           {unique}) AS {METRIC_ROW})")
    if not elements:
        raise ValueError("the catalog defines no metrics: nothing to meter")
    return ("CREATE TEMPORARY VIEW metric_rows AS\n"
            "SELECT tenant_id, m.metric AS metric, m.row_api AS api, idempotency_key, event_time,\n"
            "       m.quantity AS quantity, m.unique_value AS unique_value\n"
            "FROM valid_events CROSS JOIN UNNEST(ARRAY[\n" + ",\n".join(elements) + "\n])"
            " AS m(metric, row_api, quantity, unique_value)\n"
            "WHERE m.quantity IS NOT NULL;")


# aggregation -> (aggregate call, its result needs a cast to QUANTITY)
_AGGREGATE = {
    "count": ("COUNT(*)", True),  # no DECIMAL sum per event
    "sum": ("SUM(quantity)", False),
    "max": ("MAX(quantity)", False),
    "latest": ("LAST_VALUE(quantity)", False),
    "unique_count": ("COUNT(DISTINCT unique_value)", True),
}


def _aggregate(aggregation: str, keys: list[str] | None) -> str:
    """The aggregation over the rows of `keys` only (None: all rows of the group)."""
    call, cast = _AGGREGATE[aggregation]
    if keys is not None and aggregation != "count":  # a group is one metric: COUNT(*) needs no filter
        call += f" FILTER (WHERE metric IN ({', '.join(literal(k) for k in keys)}))"
    return f"CAST({call} AS {QUANTITY})" if cast else call


def hourly_sql(catalog: Catalog) -> str:
    """Hourly tumbling event-time windows per tenant, metric and API: one window
    aggregation for all metrics, each metric's quantity from its own aggregate.

    Metrics priced per transaction (percentage) also carry the hour's
    transactions, for rate_window to rate one by one in event-time order.
    """
    by_aggregation: dict[str, list[str]] = {}
    for key, metric in sorted(catalog.metrics.items()):
        by_aggregation.setdefault(metric.aggregation, []).append(key)
    if len(by_aggregation) == 1:
        quantity = _aggregate(next(iter(by_aggregation)), None)
    else:
        cases = [f"    WHEN metric IN ({', '.join(literal(k) for k in keys)}) THEN {_aggregate(aggregation, keys)}"
                 for aggregation, keys in sorted(by_aggregation.items())]
        quantity = "CASE\n" + "\n".join(cases) + "\n  END"
    values = sorted(catalog.value_metrics())
    transactions = (f"ARRAY_AGG(CAST(ROW(event_time, idempotency_key, quantity) AS {TRANSACTION}))"
                    f" FILTER (WHERE metric IN ({', '.join(literal(k) for k in values)}))"
                    if values else f"CAST(NULL AS {TRANSACTIONS})")
    return ("CREATE TEMPORARY VIEW hourly AS\n"
            "SELECT window_start, window_end, window_time, tenant_id, metric, api,\n"
            f"  {quantity} AS quantity,\n"
            f"  COUNT(*) AS event_count,\n"
            f"  {transactions} AS transactions\n"
            "FROM TABLE(TUMBLE(TABLE on_time_rows, DESCRIPTOR(event_time), INTERVAL '1' HOUR))\n"
            "GROUP BY window_start, window_end, window_time, tenant_id, metric, api;")


def split_statements(text: str) -> list[str]:
    """Statements of a .sql file (`;` at a line's end closes one; `--` comments dropped)."""
    out, current = [], []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip().rstrip(";"))
            current = []
    if "".join(current).strip():
        out.append("\n".join(current).strip())
    return [s for s in out if s]


def _file(name: str) -> list[str]:
    return split_statements((SQL_DIR / name).read_text())


def metering_statements(catalog: Catalog) -> list[str]:
    """All of the job's SQL, in the order it runs."""
    return (_file("10_dedup.sql") + _file("20_archive.sql") + [metric_rows_sql(catalog).rstrip(";")]
            + _file("40_late.sql") + [hourly_sql(catalog).rstrip(";")] + _file("60_line_items.sql"))


def explain(catalog: Catalog) -> str:
    parts = ["-- usage_events: the topic, each message decoded and checked by the aforo-usage-event format"]
    parts += [s + ";" for s in metering_statements(catalog)]
    return "\n\n".join(parts) + "\n"


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))
