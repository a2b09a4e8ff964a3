"""The job's SQL generated from the catalog: what `aforo job explain` prints, and that
Flink plans it (one dedup operator, one pass over each event) for every aggregation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aforo.catalog import load_catalog
from jobs import metering_sql

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


def test_explain_prints_each_metric_once_in_one_pass(every_aggregation: Path) -> None:
    catalog = load_catalog(every_aggregation)
    sql = metering_sql.explain(catalog)
    assert sql.count("CROSS JOIN UNNEST(ARRAY[") == 1
    for key in catalog.metrics:
        assert sql.count(f"CAST(ROW('{key}'") == 1, key
    # each aggregation reads only its own metrics' rows; a count group needs no filter
    assert "MAX(quantity) FILTER (WHERE metric IN ('peak_latency'))" in sql
    assert "LAST_VALUE(quantity) FILTER (WHERE metric IN ('last_region_ms'))" in sql
    assert "COUNT(DISTINCT unique_value) FILTER (WHERE metric IN ('active_routes'))" in sql
    assert "WHEN metric IN ('api_calls') THEN CAST(COUNT(*) AS DECIMAL(38, 12))" in sql
    # the per-transaction metric keeps its transactions and has one row per tenant and hour
    assert "FILTER (WHERE metric IN ('payment_value')) AS transactions" in sql
    assert "CAST(ROW('payment_value', ''," in sql


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
    # one hourly window aggregation for all metrics (single-phase here: COUNT DISTINCT)
    assert plan.count("WindowAggregate(") == 1
    assert plan.count("Correlate(") <= 2  # the metric rows: on time and late
    assert "PythonCalc(" in plan and "rate_window" in plan
