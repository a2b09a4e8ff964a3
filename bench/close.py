"""Benchmark of the period close: a month for 10,000 customers and 5 metrics.

    .venv/bin/python bench/close.py [--customers 10000] [--keep DIR]

Builds, in a temporary folder, a catalog of synthetic customers on three plans
(graduated, volume, package usage prices; per-unit prices with transforms; a
flat fee; a minimum) and the metering job's tables for November 2026: the event
archive and hourly line items (about 10 million rows) whose amounts are each
hour's F(ptd) - F(ptd - q), generated with DuckDB, not Python loops. Then it
measures, in one run:

  baseline   a plain DuckDB scan + GROUP BY of the same line items and events
  close      `close_period(..., finalize=True)`: read, rate, reconcile, write, number
  rerun      the same close again (everything final: nothing to do)
  render     HTML invoices per second (and PDFs per second, on a sample)

Targets: close under 60 s, 200 HTML invoices a second, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from aforo.catalog import load_catalog
from aforo.settings import Settings
from invoicing import Renderer, close_period, load_invoicing_config, open_documents

METRICS = {
    "api_calls": "key: api_calls\nunit: call\naggregation: count\nsources:\n"
                 "  - event_type: api_call\n    filters:\n"
                 "      - {field: status, op: \"<\", value: 500}\n",
    "egress_bytes": "key: egress_bytes\nunit: byte\naggregation: sum\n"
                    "value_field: response_bytes\nsources:\n  - event_type: api_call\n",
    "ingress_bytes": "key: ingress_bytes\nunit: byte\naggregation: sum\n"
                     "value_field: request_bytes\nsources:\n  - event_type: api_call\n",
    "compute_ms": "key: compute_ms\nunit: ms\naggregation: sum\n"
                  "value_field: properties.compute_ms\nsources:\n  - event_type: api_call\n",
    "latency_ms": "key: latency_ms\nunit: ms\naggregation: sum\n"
                  "value_field: latency_ms\nsources:\n  - event_type: api_call\n",
}

COMMON_CHARGES = """
      - key: egress
        name: Egress (per GB)
        metric: egress_bytes
        price: {model: per_unit, transform: {divide_by: "1000000000"}, unit_amount: "0.09"}
      - key: ingress
        name: Ingress (per GB)
        metric: ingress_bytes
        price: {model: per_unit, transform: {divide_by: "1000000000"}, unit_amount: "0.02"}
      - key: compute
        name: Compute (per ms)
        metric: compute_ms
        price: {model: per_unit, unit_amount: "0.0000021"}
      - key: latency
        name: Response time (per ms)
        metric: latency_ms
        price: {model: per_unit, unit_amount: "0.000001"}
"""

PLANS = {
    "graduated": """
      - key: api_calls
        name: API calls
        metric: api_calls
        price:
          model: graduated
          tiers:
            - {up_to: "1000", unit_amount: "0.002"}
            - {up_to: null, unit_amount: "0.001"}
      - key: platform
        name: Platform fee
        price: {model: flat, amount: "29"}
""",
    "volume": """
      - key: api_calls
        name: API calls
        metric: api_calls
        price:
          model: volume
          minimum: "5"
          tiers:
            - {up_to: "1000", unit_amount: "0.003"}
            - {up_to: "10000", unit_amount: "0.002"}
            - {up_to: null, unit_amount: "0.001"}
""",
    "package": """
      - key: api_calls
        name: API calls (packs of 100)
        metric: api_calls
        price: {model: package, package_size: 100, package_amount: "0.5"}
""",
}
PLAN_OF = ["graduated", "volume", "package"]  # customer i is on PLAN_OF[i % 3]

# F(x) of each charge, in SQL, exactly as the pricing library computes it.
AMOUNT_SQL = """
CREATE MACRO f_api(plan, x) AS CASE plan
    WHEN 0 THEN 0.002 * least(x, 1000) + 0.001 * greatest(x - 1000, 0)
    WHEN 1 THEN CASE WHEN x <= 1000 THEN x * 0.003 WHEN x <= 10000 THEN x * 0.002
                     ELSE x * 0.001 END
    ELSE CAST((CAST(x AS BIGINT) + 99) // 100 AS DECIMAL(18, 0)) * 0.5
END;
CREATE MACRO f(metric, plan, x) AS CAST(CASE metric
    WHEN 'api_calls' THEN f_api(plan, x)
    WHEN 'egress_bytes' THEN x * CAST(0.00000000009 AS DECIMAL(18, 14))
    WHEN 'ingress_bytes' THEN x * CAST(0.00000000002 AS DECIMAL(18, 14))
    WHEN 'compute_ms' THEN x * CAST(0.0000021 AS DECIMAL(18, 14))
    ELSE x * CAST(0.000001 AS DECIMAL(18, 14))
END AS DECIMAL(38, 18));
"""

EVENTS_SQL = """
CREATE TABLE ev AS
WITH active AS (
    SELECT t, h, 1 + hash(t, h, 'n') % 3 AS n
    FROM range($customers) r1(t), range(720) r2(h)
    WHERE hash(t, h) % 25 < 7
)
SELECT printf('c%05d', t) AS tenant_id, t % 3 AS plan,
       printf('e%d-%d-%d', t, h, k) AS idempotency_key,
       TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_hours(h)
           + to_seconds(CAST(hash(t, h, k) % 3600 AS BIGINT)) AS event_time,
       CASE WHEN hash(t, h, k, 's') % 20 = 0 THEN 500 ELSE 200 END AS status,
       CAST(5 + hash(t, h, k, 'l') % 400 AS INTEGER) AS latency_ms,
       CAST(200 + hash(t, h, k, 'q') % 5000 AS BIGINT) AS request_bytes,
       CAST(1000 + hash(t, h, k, 'r') % 2000000 AS BIGINT) AS response_bytes,
       CAST(1 + hash(t, h, k, 'c') % 900 AS VARCHAR) AS compute_ms
FROM active, range(3) r3(k)
WHERE k < n
"""

EVENTS_OUT_SQL = """
SELECT idempotency_key, tenant_id, 'bench' AS source, 'api_call' AS event_type,
           CAST(event_time AS TIMESTAMPTZ) AS event_time, '' AS api, '/v1/items' AS route,
           'GET' AS "method", status, latency_ms, request_bytes, response_bytes,
           CAST(NULL AS VARCHAR) AS "value", MAP {'compute_ms': compute_ms} AS properties,
       strftime(event_time, '%Y-%m-%d') AS event_date
FROM ev
"""

HOURLY_SQL = """
CREATE TABLE hourly AS
SELECT tenant_id, any_value(plan) AS plan, date_trunc('hour', event_time) AS window_start,
       CAST(count(*) FILTER (WHERE status < 500) AS DECIMAL(18, 0)) AS api_calls,
       CAST(sum(response_bytes) AS DECIMAL(18, 0)) AS egress_bytes,
       CAST(sum(request_bytes) AS DECIMAL(18, 0)) AS ingress_bytes,
       CAST(sum(CAST(compute_ms AS BIGINT)) AS DECIMAL(18, 0)) AS compute_ms,
       CAST(sum(latency_ms) AS DECIMAL(18, 0)) AS latency_ms,
       count(*) AS events
FROM ev GROUP BY tenant_id, window_start
"""

LINE_ITEMS_OUT_SQL = """
    WITH rows AS (
        UNPIVOT hourly ON api_calls, egress_bytes, ingress_bytes, compute_ms, latency_ms
        INTO NAME metric VALUE quantity
    ), ptd AS (
        SELECT *, sum(quantity) OVER (PARTITION BY tenant_id, metric ORDER BY window_start) AS ptd
        FROM rows WHERE quantity > 0
    )
    SELECT tenant_id, metric, '' AS api, window_start, window_start + INTERVAL 1 HOUR AS window_end,
           CAST(quantity AS DECIMAL(38, 12)) AS quantity, events AS event_count,
           TIMESTAMPTZ '2026-11-01 00:00:00+00' AS period_start,
           TIMESTAMPTZ '2026-12-01 00:00:00+00' AS period_end,
           CAST(ptd AS DECIMAL(38, 12)) AS period_to_date_quantity,
           CAST(f(metric, plan, CAST(ptd AS DECIMAL(18, 0)))
                - f(metric, plan, CAST(ptd - quantity AS DECIMAL(18, 0))) AS DECIMAL(38, 18)) AS amount,
           'USD' AS currency,
           CASE metric WHEN 'api_calls' THEN 'api_calls' WHEN 'egress_bytes' THEN 'egress'
                WHEN 'ingress_bytes' THEN 'ingress' WHEN 'compute_ms' THEN 'compute'
                ELSE 'latency' END AS charge_key,
           ['graduated', 'volume', 'package'][plan + 1] AS plan_key, CAST(1 AS INTEGER) AS plan_version,
           CASE metric WHEN 'api_calls' THEN ['graduated', 'volume', 'package'][plan + 1]
                ELSE 'per_unit' END AS price_model,
           'bench' AS catalog_revision, true AS billed, '2026-11-01' AS "period"
    FROM ptd
"""

BASELINE_SQL = """
SELECT count(*), sum(n), sum(amount) FROM (
    SELECT tenant_id, metric, count(*) AS n, sum(quantity) AS quantity, sum(amount) AS amount
    FROM read_parquet($li) GROUP BY ALL
    UNION ALL
    SELECT tenant_id, 'events', count(*), sum(response_bytes), 0
    FROM read_parquet($ev) GROUP BY ALL
)
"""


def write_catalog(root: Path, customers: int) -> None:
    for folder in ("metrics", "plans", "customers"):
        (root / folder).mkdir(parents=True)
    for key, text in METRICS.items():
        (root / "metrics" / f"{key}.yaml").write_text(text)
    for key, charges in PLANS.items():
        (root / "plans" / f"{key}.yaml").write_text(
            f"key: {key}\nname: {key.title()}\ncurrency: USD\nversions:\n  - version: 1\n"
            f"    effective_from: 2026-01-01T00:00:00Z\n    charges:{charges}{COMMON_CHARGES}")
    for i in range(customers):
        (root / "customers" / f"c{i:05d}.yaml").write_text(
            f"tenant_id: c{i:05d}\nname: Customer {i:05d} Ltd\nemail: ap@c{i:05d}.example\n"
            f"address: {i} Market Street, Springfield\nplan: {PLAN_OF[i % 3]}\n"
            + ("tax_rate: \"20\"\n" if i % 7 == 0 else ""))


def write_tables(data: Path, customers: int) -> dict[str, int]:
    data.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(AMOUNT_SQL)
    con.execute(EVENTS_SQL, {"customers": customers})
    con.sql(EVENTS_OUT_SQL).write_parquet(str(data / "events"), partition_by=["event_date"],
                                          filename_pattern="part-{i}")
    con.execute(HOURLY_SQL)
    con.sql(LINE_ITEMS_OUT_SQL).write_parquet(str(data / "line_items"), partition_by=["period"],
                                              filename_pattern="part-{i}")
    (data / "late_events").mkdir(parents=True, exist_ok=True)
    counts = {
        "events": con.execute("SELECT count(*) FROM ev").fetchone()[0],  # type: ignore[index]
        "line_items": con.execute(
            "SELECT count(*) FROM read_parquet($f)",
            {"f": str(data / "line_items" / "*" / "part-*.parquet")}).fetchone()[0],  # type: ignore[index]
    }
    con.close()
    return counts


def baseline(data: Path) -> float:
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(BASELINE_SQL, {"li": str(data / "line_items" / "*" / "part-*"),
                               "ev": str(data / "events" / "*" / "part-*")}).fetchall()
    took = time.perf_counter() - started
    con.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--render", type=int, default=1000, help="HTML invoices to render")
    parser.add_argument("--pdfs", type=int, default=10, help="PDF invoices to render")
    parser.add_argument("--keep", type=Path, help="Build here and keep it (default: a temp dir)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="aforo-bench-close-"))
    try:
        settings = Settings(home=work / "home", catalog_dir=work / "catalog")
        started = time.perf_counter()
        write_catalog(settings.catalog_dir, args.customers)
        counts = write_tables(settings.data_dir, args.customers)
        print(f"data: {args.customers:,} customers, {counts['line_items']:,} hourly line items,"
              f" {counts['events']:,} events (generated in {time.perf_counter() - started:.1f} s)")

        base = min(baseline(settings.data_dir) for _ in range(2))
        print(f"baseline: DuckDB scan + GROUP BY of the same files: {base:.2f} s")

        config = load_invoicing_config(None)
        now = datetime(2026, 12, 3, tzinfo=UTC)
        started = time.perf_counter()
        load_catalog(settings.catalog_dir)
        catalog_s = time.perf_counter() - started
        started = time.perf_counter()
        result = close_period(settings, "2026-11", finalize=True, now=now, config=config)
        took = time.perf_counter() - started
        finalized = result.count("finalized")
        print(f"close: {took:.1f} s for {finalized:,} final invoices"
              f" ({finalized / took:,.0f} invoices/s, {took / base:.1f}x the baseline scan),"
              f" {len(result.discrepancies)} reconciliation differences [target: < 60 s];"
              f" loading the catalog ({args.customers:,} customer files) alone takes"
              f" {catalog_s:.1f} s of it")

        started = time.perf_counter()
        again = close_period(settings, "2026-11", finalize=True, now=now, config=config)
        print(f"rerun: {time.perf_counter() - started:.1f} s,"
              f" {again.count('final'):,} already final, {again.count('finalized')} finalized")

        started = time.perf_counter()
        with open_documents(settings) as store:
            docs = store.documents(label="2026-11")[: args.render]
        loaded = time.perf_counter() - started
        renderer = Renderer(config)
        renderer.html(docs[0])  # templates compiled once, as in a long-running server
        started = time.perf_counter()
        size = sum(len(renderer.html(doc)) for doc in docs)
        took = time.perf_counter() - started
        print(f"render: {len(docs) / took:,.0f} HTML invoices/s ({len(docs):,} invoices,"
              f" {size / len(docs) / 1024:.1f} KiB each; loading them took {loaded:.2f} s)"
              f" [target: 200/s]")
        if args.pdfs:
            started = time.perf_counter()
            for doc in docs[: args.pdfs]:
                renderer.pdf(doc)
            took = time.perf_counter() - started
            print(f"render: {args.pdfs / took:.1f} PDF invoices/s ({args.pdfs} invoices)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
