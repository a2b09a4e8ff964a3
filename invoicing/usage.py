"""What the Parquet tables say about a set of (tenant, period) pairs: one DuckDB
pass that the close rates and reconciles from.

For each tenant, period and metric: the line items (what streaming saw), the
late events (what it did not), the archive (every accepted event, late ones
included), the streamed amounts per charge, the ordered transaction values of
percentage-priced metrics, and every hourly row where they disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from aforo.catalog import Metric, Period
from invoicing import inputs
from invoicing.errors import InputError
from invoicing.metric_sql import with_metric_events
from invoicing.sqlfiles import load_sql

ZERO = Decimal(0)
UsageKey = tuple[str, datetime, str]  # tenant, period start, metric


@dataclass(frozen=True, slots=True)
class Scope:
    """One tenant's period to read; `reconcile` also checks it against the archive;
    `value_metrics` are its percentage-priced metrics (their transactions are read)."""

    tenant_id: str
    period: Period
    reconcile: bool = True
    value_metrics: frozenset[str] = frozenset()


@dataclass(slots=True)
class MetricUsage:
    """One tenant's metric in one period, from each source. A fingerprint is the sum
    of the quantities weighted by their hour: equal fingerprints and totals mean
    the usage sits in the same hours."""

    streamed_total: Decimal = ZERO
    streamed_largest: Decimal | None = None
    streamed_fingerprint: Decimal = ZERO
    line_items: int = 0
    late_total: Decimal = ZERO
    late_largest: Decimal | None = None
    late_fingerprint: Decimal = ZERO
    late_events: int = 0
    archive_events: int = 0
    archive_total: Decimal = ZERO
    archive_largest: Decimal | None = None
    archive_latest: Decimal | None = None
    archive_latest_on_time: Decimal | None = None
    archive_uniques: int = 0
    archive_uniques_on_time: int = 0
    archive_fingerprint: Decimal = ZERO

    def quantity(self, aggregation: str) -> Decimal:
        """The period's quantity the close bills: line items plus late events for the
        aggregations hourly rows can carry; the archive for latest and unique_count."""
        if aggregation in ("count", "sum"):
            return self.streamed_total + self.late_total
        if aggregation == "max":
            seen = [q for q in (self.streamed_largest, self.late_largest) if q is not None]
            return max(seen) if seen else ZERO
        if aggregation == "latest":
            return self.archive_latest if self.archive_latest is not None else ZERO
        return Decimal(self.archive_uniques)

    def streamed_quantity(self, aggregation: str) -> Decimal:
        """The part of the quantity the streaming job saw (late events excluded)."""
        if aggregation in ("count", "sum"):
            return self.streamed_total
        if aggregation == "max":
            return self.streamed_largest if self.streamed_largest is not None else ZERO
        if aggregation == "latest":
            return self.archive_latest_on_time if self.archive_latest_on_time is not None else ZERO
        return Decimal(self.archive_uniques_on_time)

    def agrees_with_archive(self, aggregation: str) -> bool:
        """Line items plus late events against the archive, hour by hour (through the
        fingerprints). latest and unique_count are billed from the archive itself."""
        if aggregation in ("count", "sum"):
            return (self.streamed_total + self.late_total == self.archive_total
                    and self.streamed_fingerprint + self.late_fingerprint
                    == self.archive_fingerprint)
        if aggregation == "max":
            largest = self.archive_largest if self.archive_largest is not None else ZERO
            return self.quantity(aggregation) == largest
        return True


@dataclass(frozen=True, slots=True)
class Streamed:
    """The line items of one charge: their summed amounts and the context they carry."""

    metric: str
    charge_key: str
    amount: Decimal
    line_items: int
    billed: bool
    plan_keys: tuple[str, ...]
    plan_versions: tuple[int, ...]
    currencies: tuple[str, ...]
    misfiled: int


@dataclass(frozen=True, slots=True)
class WindowDiff:
    """An hourly row where line items, late events and the archive disagree."""

    tenant_id: str
    period_start: datetime
    metric: str
    api: str
    window_start: datetime
    aggregation: str
    streamed: Decimal | None
    late: Decimal | None
    archive: Decimal | None
    rows: int


@dataclass(frozen=True, slots=True)
class Unbilled:
    tenant_id: str
    metric: str
    quantity: Decimal
    line_items: int


@dataclass
class Usage:
    metrics: dict[UsageKey, MetricUsage] = field(default_factory=dict)
    streamed: dict[tuple[str, datetime], list[Streamed]] = field(
        default_factory=lambda: defaultdict(list))
    values: dict[UsageKey, list[tuple[Decimal, bool]]] = field(
        default_factory=lambda: defaultdict(list))
    window_diffs: list[WindowDiff] = field(default_factory=list)
    suspects: set[UsageKey] = field(default_factory=set)  # disagree with the archive
    unbilled: list[Unbilled] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)

    def metric(self, tenant_id: str, start: datetime, metric: str) -> MetricUsage:
        return self.metrics.get((tenant_id, start, metric)) or MetricUsage()


def tidy(value: Decimal | None) -> Decimal | None:
    """The same number without the column's trailing zeros (DECIMAL(38, 12) gives
    `17217.000000000000`), so breakdowns read `17,217 x 0.005`."""
    if value is None:
        return None
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def _tidy(value: Decimal | None) -> Decimal:
    return tidy(value) if value is not None else ZERO


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _scope_table(scopes: Iterable[Scope]) -> tuple[pa.Table, pa.Table]:
    rows = list(scopes)
    ts = pa.timestamp("us", tz="UTC")
    periods = pa.table({
        "tenant_id": pa.array([s.tenant_id for s in rows], pa.string()),
        "period_start": pa.array([s.period.start for s in rows], ts),
        "period_end": pa.array([s.period.end for s in rows], ts),
        "reconcile": pa.array([s.reconcile for s in rows], pa.bool_()),
    })
    pairs = sorted({(s.tenant_id, m) for s in rows for m in s.value_metrics})
    value_metrics = pa.table({
        "tenant_id": pa.array([t for t, _ in pairs], pa.string()),
        "metric": pa.array([m for _, m in pairs], pa.string()),
    })
    return periods, value_metrics


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None,
          what: str = "") -> list[tuple]:  # type: ignore[type-arg]
    try:
        return con.execute(sql, params or {}).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"reading {what}: {exc}") from exc


def collect_usage(
    data_dir: Path,
    scopes: list[Scope],
    metrics: Mapping[str, Metric],
    per_tenant: frozenset[str],
    known_tenants: Iterable[str] | None = None,
    month: Period | None = None,
) -> Usage:
    """Read everything the close needs about `scopes` in one in-memory DuckDB.

    `per_tenant` are the metrics the metering job streams one row per tenant and hour
    for (api '', Catalog.per_tenant_metrics): the archive is compared with them so.

    `known_tenants` and `month` (the label's calendar month in UTC) ask for the
    usage of tenants the catalog does not know, which the metering job files
    under calendar months.
    """
    usage = Usage()
    if not scopes:
        return usage
    li_dir = inputs.require(data_dir, "line_items")
    events_dir = inputs.require(data_dir, "events")
    late_dir = data_dir / "late_events"
    li_parts = {s.period.start.date().isoformat() for s in scopes}
    if month is not None:
        li_parts.add(month.start.date().isoformat())
    day_parts = {d for s in scopes for d in inputs.days(s.period.start, s.period.end)}
    reads_events = any(s.reconcile or s.value_metrics for s in scopes)
    files = {
        "line_items": inputs.committed_files(li_dir, li_parts),
        "late_events": inputs.committed_files(late_dir, day_parts) if late_dir.is_dir() else [],
        "events": inputs.committed_files(events_dir, day_parts) if reads_events else [],
    }
    usage.files = {name: len(found) for name, found in files.items()}
    con = _connect()
    try:
        for name, found in files.items():
            inputs.register(con, name, name, found)
        periods, value_metrics = _scope_table(scopes)
        con.register("close_periods", periods)
        con.register("close_value_metrics", value_metrics)
        con.register("close_metrics", pa.table({
            "metric": pa.array(sorted(metrics), pa.string()),
            "aggregation": pa.array([metrics[k].aggregation for k in sorted(metrics)], pa.string()),
            "per_tenant": pa.array([k in per_tenant for k in sorted(metrics)], pa.bool_()),
        }))
        _read_streamed_usage(con, usage)
        if any(s.reconcile for s in scopes):
            _read_archive(con, usage, metrics, [s for s in scopes if s.reconcile])
        if len(value_metrics):
            _read_values(con, usage, metrics)
        if known_tenants is not None and month is not None:
            _read_unbilled(con, usage, known_tenants, month)
    finally:
        con.close()
    return usage


def _read_streamed_usage(con: duckdb.DuckDBPyConnection, usage: Usage) -> None:
    for row in _rows(con, load_sql("close_line_items"), what="line_items"):
        (tenant, start, metric, charge_key, total, largest, count, fingerprint, amount, billed,
         plans, versions, currencies, misfiled) = row
        mu = usage.metrics.setdefault((tenant, start, metric), MetricUsage())
        mu.streamed_total += _tidy(total)
        mu.streamed_fingerprint += _tidy(fingerprint)
        mu.line_items += count
        largest = tidy(largest)
        if largest is not None and (mu.streamed_largest is None or largest > mu.streamed_largest):
            mu.streamed_largest = largest
        usage.streamed[(tenant, start)].append(Streamed(
            metric, charge_key, _tidy(amount), count, bool(billed), tuple(sorted(plans)),
            tuple(sorted(versions)), tuple(sorted(currencies)), misfiled,
        ))
    for tenant, start, metric, total, largest, count, fingerprint in _rows(
            con, load_sql("close_late"), what="late_events"):
        mu = usage.metrics.setdefault((tenant, start, metric), MetricUsage())
        mu.late_total, mu.late_largest, mu.late_events = _tidy(total), tidy(largest), count
        mu.late_fingerprint = _tidy(fingerprint)


def _read_archive(con: duckdb.DuckDBPyConnection, usage: Usage,
                  metrics: Mapping[str, Metric], scopes: list[Scope]) -> None:
    sql, params = with_metric_events(load_sql("close_archive"), metrics)
    for tenant, start, metric, events, total, largest, fingerprint in _rows(
            con, sql, params, what="events"):
        mu = usage.metrics.setdefault((tenant, start, metric), MetricUsage())
        mu.archive_events, mu.archive_total = events, _tidy(total)
        mu.archive_largest, mu.archive_fingerprint = tidy(largest), _tidy(fingerprint)
    not_sums = {k: m for k, m in metrics.items() if m.aggregation in ("latest", "unique_count")}
    if not_sums:
        sql, params = with_metric_events(load_sql("close_archive_latest_unique"), not_sums)
        for tenant, start, metric, latest, latest_on_time, uniques, uniques_on_time in _rows(
                con, sql, params, what="events"):
            mu = usage.metrics.setdefault((tenant, start, metric), MetricUsage())
            mu.archive_latest, mu.archive_latest_on_time = tidy(latest), tidy(latest_on_time)
            mu.archive_uniques, mu.archive_uniques_on_time = uniques, uniques_on_time
    ends = {(s.tenant_id, s.period.start): s.period.end for s in scopes}
    usage.suspects = {
        key for key, mu in usage.metrics.items()
        if (key[0], key[1]) in ends and key[2] in metrics
        and not mu.agrees_with_archive(metrics[key[2]].aggregation)
    }
    if not usage.suspects:
        return
    ts = pa.timestamp("us", tz="UTC")
    keys = sorted(usage.suspects)
    con.register("close_suspects", pa.table({
        "tenant_id": pa.array([k[0] for k in keys], pa.string()),
        "period_start": pa.array([k[1] for k in keys], ts),
        "period_end": pa.array([ends[(k[0], k[1])] for k in keys], ts),
        "metric": pa.array([k[2] for k in keys], pa.string()),
    }))
    sql, params = with_metric_events(load_sql("close_windows"), metrics)
    for row in _rows(con, sql, params, what="events"):
        (tenant, start, metric, api, window, aggregation, li_total, li_largest, li_rows,
         late_total, late_largest, archive_total, archive_largest) = row
        if aggregation == "max":
            streamed, late, archive = tidy(li_largest), tidy(late_largest), tidy(archive_largest)
        else:
            streamed, late, archive = tidy(li_total), tidy(late_total), tidy(archive_total)
        usage.window_diffs.append(WindowDiff(
            tenant, start, metric, api, window, aggregation, streamed, late, archive,
            li_rows or 0))


def _read_values(con: duckdb.DuckDBPyConnection, usage: Usage,
                 metrics: Mapping[str, Metric]) -> None:
    sql, params = with_metric_events(load_sql("close_values"), metrics)
    for tenant, start, metric, value, late in _rows(con, sql, params, what="events"):
        usage.values[(tenant, start, metric)].append((_tidy(Decimal(value)), bool(late)))


def _read_unbilled(con: duckdb.DuckDBPyConnection, usage: Usage, known: Iterable[str],
                   month: Period) -> None:
    con.register("close_customers", pa.table({"tenant_id": pa.array(sorted(known), pa.string())}))
    params = {"month_start": month.start, "month_end": month.end}
    for tenant, metric, quantity, count in _rows(
            con, load_sql("close_unbilled"), params, what="line_items"):
        usage.unbilled.append(Unbilled(tenant, metric, _tidy(quantity), count))
