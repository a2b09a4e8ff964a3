"""The example catalog loads, and the public API answers from it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aforo.catalog import (
    Catalog,
    CatalogError,
    Filter,
    Metric,
    MetricSource,
    Period,
    ResolvedCharge,
    load_catalog,
)
from aforo.pricing import Price, rate

from .conftest import EXAMPLE

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog(EXAMPLE)


def test_the_example_catalog_loads(cat: Catalog) -> None:
    assert set(cat.metrics) == {"api_calls", "bandwidth_bytes", "compute_ms", "payment_value"}
    assert set(cat.plans) == {"free", "growth", "payments", "startup"}
    assert set(cat.customers) == set(TENANTS)
    assert len(cat.revision) == 12 and int(cat.revision, 16) >= 0


def test_metrics(cat: Catalog) -> None:
    assert cat.metrics["api_calls"] == Metric(
        "api_calls", "call", "count", None,
        (MetricSource("api_call", (Filter("status", "<", Decimal(500)),)),),
        "API calls", "",
    )
    assert cat.metrics["bandwidth_bytes"].value_field == "response_bytes"
    assert cat.metrics["compute_ms"].value_field == "properties.compute_ms"
    payment = cat.metrics["payment_value"]
    assert (payment.aggregation, payment.value_field, payment.sources[0].event_type) == \
        ("sum", "value", "payment")


def test_plan_versions(cat: Catalog) -> None:
    growth = cat.plans["growth"]
    assert [v.version for v in growth.versions] == [1, 2]
    assert growth.versions[1].effective_from == datetime(2026, 12, 1, tzinfo=UTC)
    assert cat.plan_version_at("growth", datetime(2026, 11, 30, 23, tzinfo=UTC)).version == 1
    assert cat.plan_version_at("growth", datetime(2026, 12, 1, tzinfo=UTC)).version == 2
    assert cat.plan_version_at("growth", datetime(2027, 6, 1)).version == 2  # naive = UTC
    with pytest.raises(LookupError, match="has no version in effect"):
        cat.plan_version_at("growth", datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(LookupError, match="not in the catalog"):
        cat.plan_version_at("gold", datetime(2026, 1, 1, tzinfo=UTC))


def test_charges_for_applies_overrides(cat: Catalog) -> None:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    charges = cat.charges_for("initech", at)
    assert [c.charge_key for c in charges] == ["api_calls", "bandwidth", "compute", "platform_fee"]
    assert all(isinstance(c, ResolvedCharge) and isinstance(c.price, Price) for c in charges)
    assert {(c.plan_key, c.plan_version, c.currency) for c in charges} == {("growth", 1, "USD")}
    by_key = {c.charge_key: c for c in charges}
    assert by_key["api_calls"].price.model_name == "volume"
    assert rate(by_key["platform_fee"].price, 0).amount == 499
    assert rate(cat.charges_for("acme", at)[3].price, 0).amount == 49
    assert by_key["platform_fee"].metric is None and by_key["bandwidth"].metric == "bandwidth_bytes"


def test_charges_for_unknown_tenant_or_before_the_plan(cat: Catalog) -> None:
    assert cat.charges_for("nobody", datetime(2026, 11, 1, tzinfo=UTC)) == []
    assert cat.charges_for("acme", datetime(2020, 1, 1, tzinfo=UTC)) == []


def test_customers(cat: Catalog) -> None:
    stark = cat.customers["stark"]
    assert stark.tax_rate == Decimal("8.875") and cat.customers["acme"].tax_rate == 0
    initech = cat.customers["initech"]
    assert (initech.timezone, initech.anchor_day) == ("America/New_York", 15)
    assert initech.billing_start == date(2026, 10, 15) and cat.customers["acme"].billing_start is None
    assert cat.customers["globex"].caps == {"api_calls": Decimal(5000)}
    assert cat.customers["globex"].alerts == {"api_calls": (Decimal(800), Decimal(4000),
                                                            Decimal(5000))}
    for tenant in TENANTS:
        customer = cat.customers[tenant]
        assert customer.api_keys == (f"ak_{tenant}_demo",)
        assert customer.gateway_consumers == (f"kong-{tenant}",)
        assert cat.tenant_for_credential(f"ak_{tenant}_demo") == tenant
        assert cat.tenant_for_credential(f"kong-{tenant}") == tenant
    assert cat.tenant_for_credential("ak_unknown") is None


def test_period_for_uses_the_customers_timezone_and_anchor(cat: Catalog) -> None:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    assert cat.period_for("initech", at) == Period(
        datetime(2026, 11, 15, 5, tzinfo=UTC), datetime(2026, 12, 15, 5, tzinfo=UTC))
    assert cat.period_for("acme", at) == Period(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert cat.period_for("nobody", at) == cat.period_for("acme", at)
    assert at in cat.period_for("acme", at)


def test_billing_from_is_the_start_of_the_period_holding_billing_start(
        cat: Catalog, example_copy: Path) -> None:
    # the date at local midnight in the customer's timezone, as period boundaries:
    # 15 Oct in New York is 04:00 UTC (daylight saving time), not midnight UTC
    assert cat.billing_from("initech") == datetime(2026, 10, 15, 4, tzinfo=UTC)
    assert cat.billing_from("acme") is None and cat.billing_from("nobody") is None
    file = example_copy / "customers" / "initech.yaml"
    file.write_text(file.read_text().replace("billing_start: 2026-10-15", "billing_start: 2026-11-20"))
    assert load_catalog(example_copy).billing_from("initech") == datetime(2026, 11, 15, 5, tzinfo=UTC)


def test_revision_changes_with_the_files(example_copy: Path) -> None:
    first = load_catalog(example_copy).revision
    assert load_catalog(example_copy).revision == first
    file = example_copy / "plans" / "free.yaml"
    file.write_text(file.read_text().replace('unit_amount: "0.01"', 'unit_amount: "0.02"'))
    assert load_catalog(example_copy).revision != first


def test_non_yaml_files_and_missing_folders_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "README.md").write_text("notes")
    empty = load_catalog(tmp_path)
    assert (empty.metrics, empty.plans, empty.customers) == ({}, {}, {})


def test_missing_catalog_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog folder does not exist"):
        load_catalog(tmp_path / "nope")


def test_yaml_numbers_are_decimals_from_their_text(example_copy: Path) -> None:
    file = example_copy / "plans" / "free.yaml"
    file.write_text(file.read_text().replace('unit_amount: "0.01"', "unit_amount: 0.1"))
    price = load_catalog(example_copy).plans["free"].versions[0].charges[0].price
    assert price.to_dict()["unit_amount"] == "0.1"


@pytest.mark.parametrize(("written", "read"), [("010", "10"), ("007", "7"), ("1_000", "1000")])
def test_yaml_integers_are_read_in_base_10(example_copy: Path, written: str, read: str) -> None:
    file = example_copy / "plans" / "free.yaml"
    file.write_text(file.read_text().replace('unit_amount: "0.01"', f"unit_amount: {written}"))
    price = load_catalog(example_copy).plans["free"].versions[0].charges[0].price
    assert price.to_dict()["unit_amount"] == read


@pytest.mark.parametrize("written", ["0x10", "0b11", "1:30", "0o17"])
def test_yaml_integers_in_other_bases_are_refused(example_copy: Path, written: str) -> None:
    file = example_copy / "plans" / "free.yaml"
    file.write_text(file.read_text().replace('unit_amount: "0.01"', f"unit_amount: {written}"))
    with pytest.raises(CatalogError) as info:
        load_catalog(example_copy)
    assert info.value.errors == [
        "plans/free.yaml: versions[0].charges[0].price.unit_amount: must be a decimal number"
        f" (got '{written}')"
    ]


def test_period_for_falls_back_to_the_plans_anchor_day(example_copy: Path) -> None:
    file = example_copy / "plans" / "free.yaml"
    file.write_text(file.read_text().replace("anchor_day: 1}", "anchor_day: 31}"))
    cat = load_catalog(example_copy)
    assert cat.plans["free"].versions[0].period_anchor_day == 31
    assert cat.period_for("globex", datetime(2026, 2, 10, tzinfo=UTC)) == Period(
        datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC))


def test_the_catalog_pickles_for_the_flink_udfs(cat: Catalog) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(cat))
    assert (copy.metrics, copy.plans, copy.customers, copy.revision) == \
        (cat.metrics, cat.plans, cat.customers, cat.revision)
    at = datetime(2026, 11, 20, tzinfo=UTC)
    assert [rate(c.price, 47200).amount for c in copy.charges_for("acme", at)] == \
        [rate(c.price, 47200).amount for c in cat.charges_for("acme", at)]


def test_value_metrics_are_those_priced_per_transaction(cat: Catalog, load_errors) -> None:
    assert cat.value_metrics() == {"payment_value"}
    # An override cannot switch a quantity metric to a price per transaction.
    customer = (EXAMPLE / "customers" / "initech.yaml").read_text().replace(
        "overrides:\n", "overrides:\n  compute:\n    model: percentage\n    percent: \"1\"\n", 1)
    assert load_errors(customers__initech_yaml=customer) == [
        "customers/initech.yaml: overrides.compute.model: must rate quantity like the plan's per_unit price"
        " (got 'percentage')"]
