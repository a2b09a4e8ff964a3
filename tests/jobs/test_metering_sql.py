"""The job's SQL generated from the catalog: what `aforo job explain` prints, and that
Flink plans it (one dedup operator, no per-metric copy of any operator) for every aggregation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aforo.catalog import load_catalog
from jobs import metering_sql
from udfs.rating import rating_result_types

EXAMPLE = Path(__file__).resolve().parents[2] / "catalog"

EXTRA_METRICS = {
    "peak_latency": "aggregation: max\nvalue_field: latency_ms\n",
    "last_region_ms": "aggregation: latest\nvalue_field: properties.compute_ms\n",
    "active_routes": "aggregation: unique_count\nvalue_field: route\n",
}


@pytest.fixture
def every_aggregation(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    for key, body in EXTRA_METRICS.items():
        (root / "metrics" / f"{key}.yaml").write_text(
            f"key: {key}\nname: {key}\nunit: x\n{body}sources:\n  - event_type: api_call\n")
    return root


def test_explain_prints_each_metric_once_per_pass(every_aggregation: Path) -> None:
    catalog = load_catalog(every_aggregation)
    sql = metering_sql.explain(catalog)
    # late events: one row per metric they feed, in one pass
    late = sql[sql.index("CREATE TEMPORARY VIEW late_metric_rows"):sql.index("INSERT INTO late_events")]
    assert late.count("CROSS JOIN UNNEST(ARRAY[") == 1
    # on-time events are never expanded: one aggregation per tenant and API, one per tenant
    # (metrics priced per transaction, max, latest, unique_count), then one row per metric
    hourly = sql[sql.index("CREATE TEMPORARY VIEW hourly AS"):sql.index("CREATE TEMPORARY VIEW hourly_context")]
    assert hourly.count("  FROM TABLE(TUMBLE(TABLE on_time_events, DESCRIPTOR(event_time), INTERVAL '1' HOUR))\n") == 2
    assert hourly.count("GROUP BY window_start, window_end, window_time, tenant_id") == 2
    # the window table function restores its watermark (FLINK-24501): the late split judges by it too
    assert "OR event_time <= restored_watermark()" in sql
    assert "AND (restored_watermark() IS NULL OR event_time > restored_watermark())" in sql
    for key in catalog.metrics:
        assert late.count(f"CAST(ROW('{key}'") == 1, key
        assert hourly.count(f"CAST(ROW('{key}'") == 1, key
    # each metric's aggregate reads only the events that feed it, with the value it needs (the
    # field itself: the source dead-letters a value its cast would not read)
    assert "MAX(CAST(latency_ms AS DECIMAL(38, 12))) FILTER (WHERE ((event_type = 'api_call'))" \
           " AND latency_ms IS NOT NULL)" in hourly
    # latest: the value of the greatest (event time, key), not of the event that arrived last
    assert "MAX(CONCAT(CAST(event_time AS STRING), CHR(0), idempotency_key, CHR(0), " \
           "CAST(TRY_CAST(properties['compute_ms'] AS DECIMAL(38, 12)) AS STRING))) FILTER (WHERE" in hourly
    # ... handed to the running-total OVER too, whose period's last event is the greatest
    assert re.search(r"CAST\(ROW\('last_region_ms', CAST\(REGEXP_EXTRACT\(a(\d+), .*, a\1, CAST\(NULL AS "
                     r"ARRAY<STRING>\)\) AS ROW<", hourly)
    assert "REGEXP_EXTRACT(MAX(last_event) OVER w" in sql
    # unique_count: the hour's distinct values, for the period's set in the running-total OVER
    assert "hour_distinct(CAST(route AS STRING)) FILTER (WHERE ((event_type = 'api_call'))" \
           " AND route IS NOT NULL) AS a" in hourly
    assert re.search(r"CAST\(ROW\('active_routes', CAST\(CARDINALITY\(a(\d+)\) AS DECIMAL\(38, 12\)\), n\d+,"
                     r" CAST\(NULL AS .*\), CAST\(NULL AS STRING\), a\1\) AS ROW<", hourly)
    assert "period_distinct_count(uniques) OVER w" in sql
    functions = sql.splitlines()[1]
    assert functions.endswith("period_distinct_count (dev.aforo.flink.PeriodDistinctCount), hour_distinct "
                              "(dev.aforo.flink.HourDistinct), hour_transactions (dev.aforo.flink.HourTransactions), "
                              "restored_watermark (dev.aforo.flink.RestoredWatermark) (Java, udfs/java)")
    assert all(name in functions for name in rating_result_types())
    # a count is the event count itself: no DECIMAL sum per event
    assert re.search(r"CAST\(ROW\('api_calls', CAST\(n(\d+) AS DECIMAL\(38, 12\)\), n\1,", hourly)
    # a max, latest or unique_count metric is the tenant's across APIs: rows per tenant (api '')
    for key in ("peak_latency", "last_region_ms", "active_routes"):
        assert f"CAST(ROW('{key}', '',\n" in late, key
    # the per-transaction metric keeps its transactions, per tenant (api '')
    assert "hour_transactions(event_time, idempotency_key, TRY_CAST(`value` AS DECIMAL(38, 12)))" in hourly
    assert "CAST(ROW('payment_value', '',\n" in late


@pytest.mark.flink
def test_flink_plans_every_aggregation_with_one_dedup(every_aggregation: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env["AFORO_HOME"] = str(tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "aforo", "job", "explain", "--plan",
                             "--catalog", str(every_aggregation)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = result.stdout
    assert plan.startswith("== Optimized Execution Plan ==")
    assert plan.count("Deduplicate(") == 1
    # two hourly window aggregations whatever the number of metrics: per tenant and API, and
    # per tenant for the metric priced per transaction; each pre-aggregates before its exchange
    assert plan.count("LocalWindowAggregate(") == 2
    assert plan.count("GlobalWindowAggregate(") == 2
    assert "GroupWindowAggregate(" not in plan
    assert plan.count("Correlate(") == 3  # late events' metric rows; each aggregation's unpivot
    assert "PythonCalc(" in plan and "rate_window" in plan
