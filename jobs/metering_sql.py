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


def _quantity(metric: Metric) -> str:
    """One event's quantity for a metric (NULL: the event has no such value)."""
    if metric.aggregation in ("count", "unique_count"):
        return f"CAST(1 AS {QUANTITY})"
    assert metric.value_field is not None
    value = column(metric.value_field, numeric=True)
    return value if value.startswith("TRY_CAST(") else f"CAST({value} AS {QUANTITY})"


def _feeds(metric: Metric) -> str:
    """The event feeds the metric: it matches one of its sources and has the value it needs.

    An event matching several sources of one metric counts once, as in the close. Having
    the value is having the field: the source's format dead-letters an event whose value
    field (Catalog.numeric_value_fields) holds text Flink's cast would not read, so the
    test needs no cast (Flink 2.2 computes a cast again at each use: three string parses
    per event for a property's sum).
    """
    matches = []
    for source in metric.sources:
        where = [f"event_type = {literal(source.event_type)}"] + [_condition(f) for f in source.filters]
        matches.append("(" + " AND ".join(where) + ")")
    condition = " OR ".join(matches)
    if metric.aggregation == "count" or metric.value_field is None:
        return condition
    return f"({condition}) AND {column(metric.value_field)} IS NOT NULL"


METRIC_ROW = f"ROW<metric STRING, row_api STRING, quantity {QUANTITY}>"
TRANSACTION = f"ROW<event_time TIMESTAMP(3), idempotency_key STRING, `value` {QUANTITY}>"
TRANSACTIONS = f"ARRAY<{TRANSACTION}>"


def _metrics(catalog: Catalog) -> list[Metric]:
    if not catalog.metrics:
        raise ValueError("the catalog defines no metrics: nothing to meter")
    return [catalog.metrics[key] for key in sorted(catalog.metrics)]


def _per_tenant(catalog: Catalog, metric: Metric) -> bool:
    """Its hourly rows are per tenant (api ''), so the rating sees the previous hour's
    period-to-date across the tenant's APIs (Catalog.per_tenant_metrics)."""
    return metric.key in catalog.per_tenant_metrics()


def _row_api(catalog: Catalog, metric: Metric) -> str:
    return "''" if _per_tenant(catalog, metric) else "COALESCE(api, '')"


def late_metric_rows_sql(catalog: Catalog) -> str:
    """One row per (late event, metric) it feeds: the M:N mapping, from the catalog.

    Only events behind the watermark (a small share) are expanded: an array with
    one element per metric (its quantity, or NULL when the event does not feed
    it), unnested, NULLs dropped. On-time events are never expanded; the hourly
    aggregation computes every metric from the event itself.
    """
    elements = [f"  CAST(ROW({literal(m.key)}, {_row_api(catalog, m)},\n"
                f"           CASE WHEN {_feeds(m)} THEN {_quantity(m)} END) AS {METRIC_ROW})"
                for m in _metrics(catalog)]
    return ("CREATE TEMPORARY VIEW late_metric_rows AS\n"
            "SELECT tenant_id, m.metric AS metric, m.row_api AS api, idempotency_key, event_time,\n"
            "       m.quantity AS quantity\n"
            "FROM late_valid_events CROSS JOIN UNNEST(ARRAY[\n" + ",\n".join(elements) + "\n])"
            " AS m(metric, row_api, quantity)\n"
            "WHERE m.quantity IS NOT NULL;")


# aggregation -> the hour's aggregate over the events a FILTER keeps ({q}: one event's
# quantity, {v}: its value field); count: the event count itself, no DECIMAL sum per event.
_AGGREGATE: dict[str, str | None] = {
    "count": None,
    "sum": "SUM({q})",
    "max": "MAX({q})",
    # The hour's last event by event time, then idempotency key (as the close's arg_max),
    # whatever order events arrive in: the greatest "time NUL key NUL value" (a TIMESTAMP(3)
    # cast to a string is fixed-width).
    "latest": "MAX(CONCAT(CAST(event_time AS STRING), CHR(0), idempotency_key, CHR(0), CAST({q} AS STRING)))",
    # The hour's distinct values (a set in state, not ARRAY_AGG's list: udfs/java HourDistinct).
    "unique_count": "hour_distinct(CAST({v} AS STRING))",
}
# aggregation -> the hour's quantity from its aggregate a{i} (otherwise a{i} itself)
_HOUR_QUANTITY = {
    # the value: the text after the last NUL (as 60_line_items.sql reads the period's)
    "latest": f"CAST(REGEXP_EXTRACT(a{{i}}, CONCAT('[^', CHR(0), ']*$'), 0) AS {QUANTITY})",
    "unique_count": f"CAST(CARDINALITY(a{{i}}) AS {QUANTITY})",
}
# aggregation -> (name, type) of the hourly row's field that also hands its aggregate to the
# running-total OVER (60_line_items.sql), whose period quantity is not built from hour
# quantities: the period's greatest last event, the period's set of distinct values.
_PERIOD_FIELDS = {"latest": ("last_event", "STRING"), "unique_count": ("uniques", "ARRAY<STRING>")}
_PERIOD_FIELD_NAMES = ", ".join(name for name, _ in _PERIOD_FIELDS.values())
HOURLY_ROW = (f"ROW<metric STRING, quantity {QUANTITY}, event_count BIGINT, transactions {TRANSACTIONS}, "
              + ", ".join(f"{name} {kind}" for name, kind in _PERIOD_FIELDS.values()) + ">")


def _aggregates(metric: Metric, i: int, transactions: bool) -> list[str]:
    """The hour's aggregate columns of metric number i, over the events that feed it."""
    feeds = f" FILTER (WHERE {_feeds(metric)})"
    out = [f"    COUNT(*){feeds} AS n{i}"]
    aggregate = _AGGREGATE[metric.aggregation]
    if aggregate is not None:
        call = aggregate.format(q=_quantity(metric), v=column(metric.value_field or ""))
        out.append(f"    {call}{feeds} AS a{i}")
    if transactions:
        # (a list in state, not ARRAY_AGG's: udfs/java HourTransactions)
        out.append(f"    hour_transactions(event_time, idempotency_key, {_quantity(metric)}){feeds} AS t{i}")
    return out


def _hourly_row(metric: Metric, i: int, transactions: bool) -> str:
    """Metric number i's row of the hour: its quantity, event count, transactions and period field."""
    if _AGGREGATE[metric.aggregation] is None:
        quantity = f"CAST(n{i} AS {QUANTITY})"
    else:
        quantity = _HOUR_QUANTITY.get(metric.aggregation, "a{i}").format(i=i)
    fields = [literal(metric.key), quantity, f"n{i}", f"t{i}" if transactions else f"CAST(NULL AS {TRANSACTIONS})"]
    fields += [f"a{i}" if aggregation == metric.aggregation else f"CAST(NULL AS {kind})"
               for aggregation, (_, kind) in _PERIOD_FIELDS.items()]
    return f"  CAST(ROW({', '.join(fields)}) AS {HOURLY_ROW})"


# The hourly window: the TUMBLE table function, whose aggregation Flink splits in two: a
# bundle's events are pre-aggregated in memory before the exchange (LocalWindowAggregate),
# and the hour's state is touched once per key and bundle, not per event. It restores its
# watermark from a checkpoint (FLINK-24501) while the sources start theirs again, so the
# lateness split (30_watermark.sql) also judges by that restored watermark
# (restored_watermark, udfs/java): every event is counted in an hour or captured as late,
# never dropped between the two.
def _hourly_group(metrics: list[tuple[int, Metric]], api: str, values: frozenset[str]) -> str:
    """One hourly window aggregation computing every metric of `metrics` from the
    events themselves (FILTER per metric), then one row per metric that has events.
    Metrics in `values` also carry their transactions, latest and unique_count
    metrics their period field."""
    columns = [c for i, m in metrics for c in _aggregates(m, i, m.key in values)]
    rows = [_hourly_row(m, i, m.key in values) for i, m in metrics]
    fields = ", ".join(f"m.{name}" for name, _ in _PERIOD_FIELDS.values())
    feeds_any = " OR ".join(f"({_feeds(m)})" for _, m in metrics)
    return ("SELECT h.window_start, h.window_end, h.window_time, h.tenant_id, m.metric, h.api,\n"
            f"       m.quantity, m.event_count, m.transactions, {fields}\n"
            "FROM (\n"
            f"  SELECT window_start, window_end, window_time, tenant_id, {api} AS api,\n"
            + ",\n".join(columns) + "\n"
            "  FROM TABLE(TUMBLE(TABLE on_time_events, DESCRIPTOR(event_time), INTERVAL '1' HOUR))\n"
            f"  WHERE {feeds_any}\n"
            f"  GROUP BY window_start, window_end, window_time, tenant_id{', row_api' if api == 'row_api' else ''}\n"
            ") AS h CROSS JOIN UNNEST(ARRAY[\n" + ",\n".join(rows) + "\n])"
            f" AS m(metric, quantity, event_count, transactions, {_PERIOD_FIELD_NAMES})\n"
            "WHERE m.event_count > 0")


def hourly_sql(catalog: Catalog) -> str:
    """Hourly tumbling event-time windows per tenant, metric and API.

    No per-event row per metric: one window aggregation per tenant and API computes
    every metric from the event (each metric's aggregate with a FILTER), and its
    few hourly rows are unpivoted to one row per metric. Metrics whose rows are per
    tenant (api '', see _per_tenant) have their own aggregation per tenant; those
    priced per transaction (percentage) also carry the hour's transactions, for
    rate_window to rate one by one in event-time order.
    """
    numbered = list(enumerate(_metrics(catalog)))
    per_api = [(i, m) for i, m in numbered if not _per_tenant(catalog, m)]
    per_tenant = [(i, m) for i, m in numbered if _per_tenant(catalog, m)]
    values = catalog.value_metrics()
    groups = []
    if per_api:
        groups.append(_hourly_group(per_api, "row_api", values))
    if per_tenant:
        groups.append(_hourly_group(per_tenant, "''", values))
    return "CREATE TEMPORARY VIEW hourly AS\n" + "\nUNION ALL\n".join(groups) + ";"


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
    return (_file("10_dedup.sql") + _file("20_archive.sql") + _file("30_watermark.sql")
            + [late_metric_rows_sql(catalog).rstrip(";")] + _file("40_late.sql")
            + [hourly_sql(catalog).rstrip(";")] + _file("60_line_items.sql"))


# The SQL's Java functions (udfs/java), by the names it calls them; jobs/metering.py registers them.
JAVA_FUNCTIONS = {"period_distinct_count": "dev.aforo.flink.PeriodDistinctCount",
                  "hour_distinct": "dev.aforo.flink.HourDistinct",
                  "hour_transactions": "dev.aforo.flink.HourTransactions",
                  "restored_watermark": "dev.aforo.flink.RestoredWatermark"}


def explain(catalog: Catalog) -> str:
    java = ", ".join(f"{name} ({cls})" for name, cls in JAVA_FUNCTIONS.items())
    parts = ["-- usage_events: the topic, each message decoded and checked by the aforo-usage-event format\n"
             "-- functions: billing_context, rate_window (Python, udfs/rating.py); "
             f"{java} (Java, udfs/java)"]
    parts += [s + ";" for s in metering_statements(catalog)]
    return "\n\n".join(parts) + "\n"


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))
