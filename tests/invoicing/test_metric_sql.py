"""The SQL generated from metric definitions selects exactly the (event, metric)
pairs and values that the catalog's own `Metric.matches` / `value_of` do."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from aforo.catalog import load_catalog
from aforo.tables import EVENTS
from invoicing.metric_sql import explain, metric_events_sql

METRICS = {
    "ok_calls.yaml": """
key: ok_calls
unit: call
aggregation: count
sources:
  - event_type: api_call
    filters:
      - {field: status, op: "<", value: 500}
      - {field: method, op: "!=", value: GET}
      - {field: api, op: in, value: [search, "o'reilly"]}
""",
    "eu_compute.yaml": """
key: eu_compute
unit: ms
aggregation: sum
value_field: properties.compute_ms
sources:
  - event_type: api_call
    filters:
      - {field: properties.region, op: "==", value: eu}
      - {field: properties.tier, op: ">=", value: 2}
  - event_type: batch_job
""",
    "peak_bytes.yaml": """
key: peak_bytes
unit: byte
aggregation: max
value_field: response_bytes
sources:
  - event_type: api_call
    filters:
      - {field: latency_ms, op: in, value: [10, 20, 30]}
""",
    "routes.yaml": """
key: routes
unit: route
aggregation: unique_count
value_field: route
sources:
  - event_type: api_call
""",
    "payments.yaml": """
key: payments
unit: USD
aggregation: latest
value_field: value
sources:
  - event_type: payment
    filters:
      - {field: value, op: ">", value: "0.5"}
""",
}


def _catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    for folder in ("metrics", "plans", "customers"):
        (root / folder).mkdir(parents=True)
    for name, text in METRICS.items():
        (root / "metrics" / name).write_text(text)
    return root


def _events(n: int = 3000) -> list[dict[str, object]]:
    rng = random.Random(3)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        props: dict[str, str] = {}
        if rng.random() < 0.8:
            props["region"] = rng.choice(["eu", "us", "EU"])
        if rng.random() < 0.8:
            props["tier"] = rng.choice(["1", "2", "3", "x", "2.5"])
        if rng.random() < 0.7:
            props["compute_ms"] = rng.choice(["12", "0.5", "abc", "1e3", "7.25"])
        out.append({
            "idempotency_key": f"k{i}", "tenant_id": "t", "source": "test",
            "event_type": rng.choice(["api_call", "api_call", "payment", "batch_job"]),
            "event_time": start + timedelta(seconds=i), "api": rng.choice(["search", "o'reilly", "x", None]),
            "route": rng.choice(["/a", "/b", "/c"]), "method": rng.choice(["GET", "POST", None]),
            "status": rng.choice([200, 404, 500, 503, None]),
            "latency_ms": rng.choice([10, 15, 20, 30, None]),
            "request_bytes": rng.randrange(1000), "response_bytes": rng.choice([5, 500, None]),
            "value": rng.choice(["0.4", "0.5", "2.75", "abc", None]),
            "properties": list(props.items()),
        })
    return out


def test_generated_sql_agrees_with_the_catalog(tmp_path: Path) -> None:
    metrics = load_catalog(_catalog(tmp_path)).metrics
    events = _events()
    con = duckdb.connect()
    con.register("events", pa.Table.from_pylist(events, EVENTS))
    sql, params = metric_events_sql(metrics)
    got = {(key, metric): (num, txt) for key, metric, num, txt in con.execute(
        f"SELECT idempotency_key, metric, num, txt FROM ({sql})", params).fetchall()}

    expected = {}
    for event in events:
        record = {**event, "properties": dict(event["properties"])}  # type: ignore[call-overload]
        for metric in metrics.values():
            if not metric.matches(record):
                continue
            value = metric.value_of(record)
            if value is None:
                continue
            if metric.aggregation == "unique_count":
                expected[(event["idempotency_key"], metric.key)] = (Decimal(1), value)
            else:
                expected[(event["idempotency_key"], metric.key)] = (value, None)
    assert set(got) == set(expected)
    assert {k: (Decimal(v[0]), v[1]) for k, v in got.items()} == expected
    # every metric matched something and missed something: the test sees each path
    for key in metrics:
        assert 0 < sum(1 for _, m in got if m == key) < len(events)


def test_explain_lists_the_parameters(tmp_path: Path) -> None:
    text = explain(load_catalog(_catalog(tmp_path)).metrics)
    assert "\"o'reilly\"" in text  # a value with a quote travels as a parameter
    assert "o''reilly" not in text
