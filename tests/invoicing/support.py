"""A month of usage for the close's tests, written as the metering job writes it.

`usage_events()` makes the ground truth: seeded events for several customers on
different plans. `write_tables()` writes what the metering job would make of
them: the event archive, the late events (behind the watermark), and hourly line
items whose amounts are the pricing library's rating of each hour
(percentage transaction by transaction, as udfs/rating.py does). The tests compute the
expected invoices from the events themselves, with their own arithmetic.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aforo.catalog import Catalog
from aforo.pricing import rate_increment, rate_values_increment
from aforo.tables import EVENTS, LATE_EVENTS, LINE_ITEMS

CATALOG = Path(__file__).with_name("catalog")
START = datetime(2026, 10, 28, tzinfo=UTC)
END = datetime(2026, 12, 18, tzinfo=UTC)

# tenant: (API calls over START..END, server-error share, mean response bytes, payments)
PROFILES: dict[str, tuple[int, float, int, int]] = {
    "acme": (30_000, 0.02, 300_000, 0),
    "stark": (14_000, 0.01, 150_000, 0),
    "initech": (45_000, 0.03, 80_000, 0),
    "umbrella": (6_500, 0.02, 2_200_000, 0),
    "cyberdyne": (24_000, 0.0, 10_000, 0),
    "globex": (2_500, 0.05, 20_000, 0),
    "hooli": (0, 0.0, 0, 900),
    "wayne": (0, 0.0, 0, 8),
}


@dataclass(frozen=True)
class Event:
    key: str
    tenant: str
    type: str
    time: datetime
    api: str = ""
    status: int = 200
    response_bytes: int = 0
    value: str | None = None
    late: bool = False

    def record(self) -> dict[str, Any]:
        """The event as the archive (and the catalog's metric matching) sees it."""
        return {
            "idempotency_key": self.key, "tenant_id": self.tenant, "source": "test",
            "event_type": self.type, "event_time": self.time, "api": self.api,
            "route": "/v1/" + (self.api or "pay"), "method": "POST", "status": self.status,
            "latency_ms": 20, "request_bytes": 500, "response_bytes": self.response_bytes,
            "value": self.value, "properties": [("region", "eu")],
        }


def usage_events(seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    span = int((END - START).total_seconds() * 1000)  # event times carry milliseconds
    events = []
    for tenant, (calls, errors, mean_bytes, payments) in PROFILES.items():
        for i in range(calls):
            at = START + timedelta(milliseconds=rng.randrange(span))
            events.append(Event(
                f"{tenant}-c{i}", tenant, "api_call", at, rng.choice(("search", "orders")),
                500 if rng.random() < errors else 200, rng.randrange(1, 2 * mean_bytes),
                late=rng.random() < 0.01,
            ))
        for i in range(payments):
            at = START + timedelta(milliseconds=rng.randrange(span))
            cents = rng.randrange(100, 50_000) if tenant == "hooli" else rng.randrange(100, 900)
            events.append(Event(f"{tenant}-p{i}", tenant, "payment", at, "",
                                value=str(Decimal(cents) / 100), late=rng.random() < 0.02))
    events.sort(key=lambda e: (e.time, e.key))
    return events


def _write(folder: Path, name: str, schema: pa.Schema, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema), folder / name)


def _by(rows: Iterable[dict[str, Any]], column: str, key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[f"{key}={row[column]:%Y-%m-%d}"].append(row)
    return out


def metric_rows(catalog: Catalog, events: Iterable[Event]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        record = e.record()
        record["properties"] = dict(record["properties"])
        for metric in catalog.metrics.values():
            if not metric.matches(record):
                continue
            value = metric.value_of(record)
            if value is None:
                continue
            out.append({"tenant_id": e.tenant, "metric": metric.key, "api": e.api,
                        "idempotency_key": e.key, "event_time": e.time, "late": e.late,
                        "window_start": e.time.replace(minute=0, second=0, microsecond=0),
                        "quantity": Decimal(value)})
    return out


def line_item_rows(catalog: Catalog, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hourly line items of the on-time metric rows as the metering job writes them: rated
    F(ptd) - F(ptd - q), or transaction by transaction in event-time order for a metric
    priced per transaction (one row per tenant and hour, api '')."""
    per_transaction = catalog.value_metrics()
    hourly: dict[tuple[str, str, str, datetime], list[tuple[datetime, str, Decimal]]] = defaultdict(list)
    for row in rows:
        if not row["late"]:
            api = "" if row["metric"] in per_transaction else row["api"]
            hourly[(row["tenant_id"], row["metric"], api, row["window_start"])].append(
                (row["event_time"], row["idempotency_key"], row["quantity"]))
    out = []
    ptd: dict[tuple[str, str, datetime], Decimal] = defaultdict(Decimal)
    ptd_count: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for (tenant, metric, api, window) in sorted(hourly, key=lambda k: (k[0], k[1], k[3], k[2])):
        quantities = [q for _, _, q in sorted(hourly[(tenant, metric, api, window)])]
        quantity = sum(quantities, Decimal(0))
        period = catalog.period_for(tenant, window)
        charge = next((c for c in catalog.charges_for(tenant, period.start)
                       if c.metric == metric), None)
        key = (tenant, metric, period.start)
        before, count_before = ptd[key], ptd_count[key]
        ptd[key] += quantity
        ptd_count[key] += len(quantities)
        amount = Decimal(0)
        if charge is not None and metric in per_transaction:
            amount = rate_values_increment(charge.price, count_before, before, quantities)
        elif charge is not None:
            amount = rate_increment(charge.price, before, quantity)
        out.append({
            "tenant_id": tenant, "metric": metric, "api": api, "window_start": window,
            "window_end": window + timedelta(hours=1), "quantity": quantity,
            "event_count": len(quantities), "period_start": period.start,
            "period_end": period.end, "period_to_date_quantity": before + quantity,
            "amount": amount, "currency": charge.currency if charge else "",
            "charge_key": charge.charge_key if charge else "",
            "plan_key": charge.plan_key if charge else "",
            "plan_version": charge.plan_version if charge else 0,
            "price_model": charge.price.model_name if charge else "",
            "catalog_revision": catalog.revision, "billed": charge is not None,
        })
    return out


def write_tables(data_dir: Path, catalog: Catalog, events: list[Event], part: str = "0") -> None:
    """The three tables, one committed file per partition (`part-<part>.parquet`), and an
    in-progress file beside each, which readers must not see."""
    archive = [e.record() for e in events]
    rows = metric_rows(catalog, events)
    late = [{k: v for k, v in r.items() if k != "late"} for r in rows if r["late"]]
    items = line_item_rows(catalog, rows)
    for table, schema, rows, column, key in (
        ("events", EVENTS, archive, "event_time", "event_date"),
        ("late_events", LATE_EVENTS, late, "event_time", "event_date"),
        ("line_items", LINE_ITEMS, items, "period_start", "period"),
    ):
        for partition, part_rows in _by(rows, column, key).items():
            folder = data_dir / table / partition
            _write(folder, f"part-{part}.parquet", schema, part_rows)
            (folder / f".part-{part}.inprogress").write_bytes(b"not parquet, still being written")


def late_arrivals(events: list[Event], tenant: str, count: int, start: datetime,
                  end: datetime, seed: int = 99, **fields: Any) -> list[Event]:
    """`count` new late events for `tenant` between start and end."""
    rng = random.Random(seed)
    span = int((end - start).total_seconds())
    template = next(e for e in events if e.tenant == tenant)
    return [
        replace(template, key=f"{tenant}-late-{seed}-{i}",
                time=start + timedelta(seconds=rng.randrange(span)), late=True, **fields)
        for i in range(count)
    ]


def write_late(data_dir: Path, catalog: Catalog, events: list[Event], part: str) -> None:
    """Events that arrived behind the watermark: into the archive and late_events only."""
    assert all(e.late for e in events)
    archive = [e.record() for e in events]
    late = [{k: v for k, v in r.items() if k != "late"} for r in metric_rows(catalog, events)]
    for table, schema, rows in (("events", EVENTS, archive), ("late_events", LATE_EVENTS, late)):
        for partition, part_rows in _by(rows, "event_time", "event_date").items():
            _write(data_dir / table / partition, f"part-{part}.parquet", schema, part_rows)
