"""The Parquet tables the metering job writes and the period close reads (the contract).

Money and quantities are DECIMAL; `amount` keeps 18 decimal places so rating
results stay exact. Every table lives under <home>/data/<table>/ and is
partitioned as noted; readers only see files Flink has committed.
"""

from __future__ import annotations

import pyarrow as pa

QUANTITY = pa.decimal128(38, 12)
AMOUNT = pa.decimal128(38, 18)
TS = pa.timestamp("ms", tz="UTC")

# Rated hourly usage: partitioned by `period` (the billing period's start, YYYY-MM-DD).
LINE_ITEMS = pa.schema([
    ("tenant_id", pa.string()),
    ("metric", pa.string()),
    ("api", pa.string()),                      # "" when the events carry none
    ("window_start", TS),
    ("window_end", TS),
    ("quantity", QUANTITY),                    # the metric's aggregate in this window
    ("event_count", pa.int64()),
    ("period_start", TS),
    ("period_end", TS),
    ("period_to_date_quantity", QUANTITY),     # including this row
    ("amount", AMOUNT),                        # F(ptd) - F(ptd - quantity), exact
    ("currency", pa.string()),
    ("charge_key", pa.string()),
    ("plan_key", pa.string()),
    ("plan_version", pa.int32()),
    ("price_model", pa.string()),
    ("catalog_revision", pa.string()),
    ("billed", pa.bool_()),                    # false: no plan/charge (leakage), rated at 0
])

# Every accepted, deduplicated event: partitioned by `event_date` (YYYY-MM-DD).
EVENTS = pa.schema([
    ("idempotency_key", pa.string()),
    ("tenant_id", pa.string()),
    ("source", pa.string()),
    ("event_type", pa.string()),
    ("event_time", TS),
    ("api", pa.string()),
    ("route", pa.string()),
    ("method", pa.string()),
    ("status", pa.int32()),
    ("latency_ms", pa.int32()),
    ("request_bytes", pa.int64()),
    ("response_bytes", pa.int64()),
    ("value", pa.string()),
    ("properties", pa.map_(pa.string(), pa.string())),
])

# Per-metric quantities of events that arrived behind the watermark: partitioned by `event_date`.
LATE_EVENTS = pa.schema([
    ("tenant_id", pa.string()),
    ("metric", pa.string()),
    ("api", pa.string()),
    ("idempotency_key", pa.string()),
    ("event_time", TS),
    ("window_start", TS),                      # the hourly window it belongs to
    ("quantity", QUANTITY),
])

TABLES = {"line_items": LINE_ITEMS, "events": EVENTS, "late_events": LATE_EVENTS}
