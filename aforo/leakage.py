"""Unbilled usage (lost revenue) and every event that was not billed, counted by reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pyarrow as pa

from aforo.catalog import Catalog, load_catalog
from aforo.catalog.periods import as_utc
from aforo.query import DeadLettersUnreadable, run_query
from aforo.settings import PROJECT_ROOT, Settings

LEAKAGE_SQL = (PROJECT_ROOT / "sql" / "leakage.sql").read_text()
SPANS_SQL = (PROJECT_ROOT / "sql" / "leakage_spans.sql").read_text()
# Grouped by what failed (the reason's first word: a field, or `undecodable`), with an example.
DEAD_LETTER_SQL = """
SELECT split_part(reason, ':', 1) AS what, COUNT(*) AS n, MIN(reason) AS example
FROM dead_letters GROUP BY what ORDER BY n DESC, what
"""


@dataclass(frozen=True)
class Leak:
    tenant_id: str
    metric: str
    why: str  # "no customer" | "metric not priced by the plan" | "before billing start"
    #           | "charge out of range (no amount)"
    first_hour: object
    last_hour: object
    quantity: Decimal
    events: int


@dataclass(frozen=True)
class LeakageReport:
    leaks: list[Leak]
    dead_letters: list[tuple[str, int, str]] | None  # what failed, how many, an example
    dead_letters_error: str | None = None  # why they could not be read (None: not asked)


def leakage(settings: Settings, with_dead_letters: bool = True) -> LeakageReport:
    catalog = load_catalog(settings.catalog_dir)
    spans = run_query(settings, SPANS_SQL)
    result = run_query(settings, LEAKAGE_SQL, tables={
        "priced": _priced(catalog, [(t, as_utc(a), as_utc(b)) for t, a, b in spans.rows]),
        "billing_starts": _billing_starts(catalog)})
    leaks = [
        Leak(tenant, metric, _why(catalog, tenant, before_start, unrated), first, last, quantity,
             int(events))
        for tenant, metric, before_start, unrated, first, last, quantity, events in result.rows
    ]
    if not with_dead_letters:
        return LeakageReport(leaks, None)
    try:
        dlq = run_query(settings, DEAD_LETTER_SQL)
    except DeadLettersUnreadable as exc:
        return LeakageReport(leaks, None, str(exc))
    return LeakageReport(leaks, [(str(what), int(n), str(example)) for what, n, example in dlq.rows])


def _priced(catalog: Catalog, spans: list[tuple[str, datetime, datetime]]) -> pa.Table:
    """Each customer's periods over its usage's span, with every metric its plan prices
    there (Catalog.period_charges)."""
    rows: list[tuple[str, str, datetime, datetime]] = []
    for tenant, first, last in spans:
        at = first
        while tenant in catalog.customers and at <= last:
            period, charges = catalog.period_charges(tenant, at)
            rows += [(tenant, metric, period.start, period.end)
                     for metric in sorted({c.metric for c in charges if c.metric})]
            at = period.end
    tenants, metrics, starts, ends = zip(*rows, strict=True) if rows else ((), (), (), ())
    instant = pa.timestamp("us", tz="UTC")
    return pa.table({
        "tenant_id": pa.array(tenants, pa.string()), "metric": pa.array(metrics, pa.string()),
        "period_start": pa.array(starts, instant), "period_end": pa.array(ends, instant),
    })


def _billing_starts(catalog: Catalog) -> pa.Table:
    """Each customer with a billing_start, and where its billing starts (Catalog.billing_from)."""
    starts = {t: s for t in sorted(catalog.customers) if (s := catalog.billing_from(t)) is not None}
    return pa.table({
        "tenant_id": pa.array(list(starts), pa.string()),
        "billed_from": pa.array(list(starts.values()), pa.timestamp("us", tz="UTC")),
    })


def _why(catalog: Catalog, tenant: str, before_start: bool, unrated: bool) -> str:
    if before_start:
        return "before billing start"
    if unrated:
        return "charge out of range (no amount)"
    return "metric not priced by the plan" if tenant in catalog.customers else "no customer"
