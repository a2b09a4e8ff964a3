"""Which events feed a metric, and what each contributes (the reference semantics)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aforo.catalog import Catalog, Filter, Metric, MetricSource, load_catalog

from .conftest import EXAMPLE


def event(**fields: Any) -> dict[str, Any]:
    base = {"event_type": "api_call", "tenant_id": "acme", "status": 200, "method": "GET",
            "route": "/v1/items", "response_bytes": 1200, "value": None,
            "properties": {"compute_ms": "12.5", "region": "eu"}}
    return {**base, **fields}


@pytest.mark.parametrize(("flt", "ev", "matches"), [
    (Filter("status", "<", Decimal(500)), event(status=499), True),
    (Filter("status", "<", Decimal(500)), event(status=500), False),
    (Filter("status", ">=", Decimal(200)), event(status=200), True),
    (Filter("status", "!=", Decimal(404)), event(status=404), False),
    (Filter("method", "in", ("GET", "POST")), event(method="POST"), True),
    (Filter("method", "in", ("GET", "POST")), event(method="DELETE"), False),
    (Filter("method", "==", "GET"), event(), True),
    (Filter("properties.region", "==", "eu"), event(), True),
    (Filter("properties.compute_ms", ">", Decimal(10)), event(), True),
    (Filter("properties.compute_ms", "<=", Decimal("12.4")), event(), False),
    (Filter("properties.missing", "==", "x"), event(), False),
    (Filter("properties.region", ">", Decimal(1)), event(), False),  # not numeric: no match
    (Filter("value", ">", Decimal(0)), event(value=None), False),
    (Filter("value", ">", Decimal(0)), event(value="0.01"), True),
])
def test_filters(flt: Filter, ev: dict[str, Any], matches: bool) -> None:
    assert flt.matches(ev) is matches


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog(EXAMPLE)


def test_one_event_feeds_many_metrics(cat: Catalog) -> None:
    ev = event()
    fed = [key for key, metric in cat.metrics.items() if metric.matches(ev)]
    assert fed == ["api_calls", "bandwidth_bytes", "compute_ms"]
    assert cat.metrics["api_calls"].value_of(ev) == 1
    assert cat.metrics["bandwidth_bytes"].value_of(ev) == 1200
    assert cat.metrics["compute_ms"].value_of(ev) == Decimal("12.5")


def test_server_errors_are_not_billed_calls(cat: Catalog) -> None:
    assert not cat.metrics["api_calls"].matches(event(status=503))
    assert cat.metrics["bandwidth_bytes"].matches(event(status=503))


def test_payment_value(cat: Catalog) -> None:
    payment = {"event_type": "payment", "value": "120.50", "properties": {}}
    assert [k for k, m in cat.metrics.items() if m.matches(payment)] == ["payment_value"]
    assert cat.metrics["payment_value"].value_of(payment) == Decimal("120.50")


def test_one_metric_from_many_event_types() -> None:
    metric = Metric("calls", "call", "unique_count", "route", (
        MetricSource("api_call", (Filter("method", "==", "GET"),)),
        MetricSource("graphql_call"),
    ))
    assert metric.matches(event())
    assert metric.matches({"event_type": "graphql_call"})
    assert not metric.matches(event(method="POST"))
    assert metric.value_of(event()) == "/v1/items"


def test_filters_are_read_from_yaml(example_copy) -> None:
    (example_copy / "metrics" / "reads.yaml").write_text(
        "key: reads\nunit: call\naggregation: sum\nvalue_field: properties.rows\nsources:\n"
        "  - event_type: api_call\n    filters:\n"
        "      - {field: method, op: in, value: [GET, HEAD]}\n"
        "      - {field: properties.tier, op: ==, value: 2}\n"
        "      - {field: latency_ms, op: <=, value: 1.5}\n"
    )
    reads = load_catalog(example_copy).metrics["reads"]
    assert reads.sources[0].filters == (
        Filter("method", "in", ("GET", "HEAD")),
        Filter("properties.tier", "==", Decimal(2)),
        Filter("latency_ms", "<=", Decimal("1.5")),
    )
