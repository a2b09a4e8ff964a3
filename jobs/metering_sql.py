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


def metric_rows_sql(catalog: Catalog) -> str:
    """One row per (event, metric) it feeds: the M:N mapping, from the catalog."""
    selects = []
    for key in sorted(catalog.metrics):
        metric = catalog.metrics[key]
        quantity, unique = _quantity(metric)
        for source in metric.sources:
            where = [f"event_type = {literal(source.event_type)}"] + [_condition(f) for f in source.filters]
            if metric.value_field is not None:
                where.append(f"{column(metric.value_field, numeric=metric.aggregation != 'unique_count')} IS NOT NULL")
            selects.append(
                f"SELECT tenant_id, {literal(key)} AS metric, COALESCE(api, '') AS api, idempotency_key,\n"
                f"       event_time, {quantity} AS quantity, {unique} AS unique_value\n"
                f"FROM valid_events\nWHERE " + "\n  AND ".join(where)
            )
    if not selects:
        raise ValueError("the catalog defines no metrics: nothing to meter")
    return "CREATE TEMPORARY VIEW metric_rows AS\n" + "\nUNION ALL\n".join(selects) + ";"


_AGGREGATE = {
    "count": f"CAST(COUNT(*) AS {QUANTITY})",  # no DECIMAL sum per event
    "sum": "SUM(quantity)",
    "max": "MAX(quantity)",
    "latest": "LAST_VALUE(quantity)",
    "unique_count": f"CAST(COUNT(DISTINCT unique_value) AS {QUANTITY})",
}


TRANSACTION = f"ROW<event_time TIMESTAMP(3), idempotency_key STRING, `value` {QUANTITY}>"
TRANSACTIONS = f"ARRAY<{TRANSACTION}>"


def hourly_sql(catalog: Catalog) -> str:
    """Hourly tumbling event-time windows per tenant, metric and API.

    Metrics priced per transaction (percentage) also carry the hour's
    transactions, for rate_window to rate one by one in event-time order.
    """
    values = catalog.value_metrics()
    by_aggregate: dict[tuple[str, bool], list[str]] = {}
    for key, metric in sorted(catalog.metrics.items()):
        by_aggregate.setdefault((_AGGREGATE[metric.aggregation], key in values), []).append(key)
    selects = []
    for (aggregate, per_transaction), keys in sorted(by_aggregate.items()):
        transactions = (f"ARRAY_AGG(CAST(ROW(event_time, idempotency_key, quantity) AS {TRANSACTION}))"
                        if per_transaction else f"CAST(NULL AS {TRANSACTIONS})")
        # Transactions are rated in strict event-time order across the tenant's
        # APIs, so a per-transaction metric's hour is one row (api '').
        api, by_api = ("CAST('' AS STRING)", "") if per_transaction else ("api", ", api")
        selects.append(
            f"SELECT window_start, window_end, window_time, tenant_id, metric, {api} AS api,\n"
            f"       {aggregate} AS quantity, COUNT(*) AS event_count,\n"
            f"       {transactions} AS transactions\n"
            "FROM TABLE(TUMBLE(TABLE on_time_rows, DESCRIPTOR(event_time), INTERVAL '1' HOUR))\n"
            f"WHERE metric IN ({', '.join(literal(k) for k in keys)})\n"
            f"GROUP BY window_start, window_end, window_time, tenant_id, metric{by_api}"
        )
    return "CREATE TEMPORARY VIEW hourly AS\n" + "\nUNION ALL\n".join(selects) + ";"


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
