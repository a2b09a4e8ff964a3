"""Every class of catalog error names the file, the path and the value; all are collected."""

from __future__ import annotations

import pytest

from .conftest import EXAMPLE

METRIC = """key: {key}
unit: call
aggregation: {aggregation}
{extra}sources:
  - event_type: api_call
{filters}"""


def metric(key: str = "m", aggregation: str = "count", extra: str = "",
           filters: str = "") -> str:
    return METRIC.format(key=key, aggregation=aggregation, extra=extra, filters=filters)


def one_filter(text: str) -> str:
    return f"    filters:\n      - {text}\n"


@pytest.mark.parametrize(("text", "message"), [
    (metric(key="API-calls"), ("metrics/x.yaml: key: must match a lowercase identifier (letters,"
     " digits, _), like api_calls (got 'API-calls')")),
    ("unit: call\naggregation: count\nsources: [{event_type: api_call}]\n",
     "metrics/x.yaml: key: required"),
    (metric(aggregation="avg"), ("metrics/x.yaml: aggregation: must be one of: count, sum, max,"
     " unique_count, latest (got 'avg')")),
    (metric(aggregation="sum"), "metrics/x.yaml: value_field: required for aggregation sum"),
    (metric(extra="value_field: status\n"),
     "metrics/x.yaml: value_field: not used by aggregation count (got 'status')"),
    (metric(aggregation="sum", extra="value_field: bytes\n"),
     ("metrics/x.yaml: value_field: not a usage event field (one of: idempotency_key, tenant_id,"
     " source, event_type, event_time, api, route, method, status, latency_ms, request_bytes,"
     " response_bytes, value, or properties.<name>) (got 'bytes')")),
    (metric(aggregation="sum", extra="value_field: route\n"),
     ("metrics/x.yaml: value_field: must be a numeric field for aggregation sum (route is text)"
     " (got 'route')")),
    (metric(aggregation="max", extra="value_field: event_time\n"),
     "metrics/x.yaml: value_field: cannot aggregate event_time (got 'event_time')"),
    (metric(filters=one_filter("{field: colour, op: ==, value: red}")),
     "metrics/x.yaml: sources[0].filters[0].field: not a usage event field"),
    (metric(filters=one_filter("{field: status, op: '=~', value: 5}")),
     ("metrics/x.yaml: sources[0].filters[0].op: must be one of: ==, !=, <, <=, >, >=, in"
     " (got '=~')")),
    (metric(filters=one_filter("{field: route, op: '<', value: /v2}")),
     ("metrics/x.yaml: sources[0].filters[0].op: compares numbers, and route is text (use ==, !="
     " or in) (got '<')")),
    (metric(filters=one_filter("{field: status, op: '<', value: five}")),
     "metrics/x.yaml: sources[0].filters[0].value: must be a decimal number (got 'five')"),
    (metric(filters=one_filter("{field: method, op: in, value: GET}")),
     ("metrics/x.yaml: sources[0].filters[0].value: must be a non-empty list for op in"
     " (got 'GET')")),
    (metric(filters=one_filter("{field: method, op: ==, value: 5}")),
     "metrics/x.yaml: sources[0].filters[0].value: must be a string (the field is text) (got 5)"),
    (metric(filters=one_filter("{field: event_time, op: '>', value: 1}")),
     ("metrics/x.yaml: sources[0].filters[0].field: cannot be filtered on: event_time decides"
     " the period, not the metric (got 'event_time')")),
    (metric(filters=one_filter("{field: status, op: '<'}")),
     "metrics/x.yaml: sources[0].filters[0].value: required"),
    ("key: m\nunit: call\naggregation: count\nsources: []\n",
     "metrics/x.yaml: sources: must list at least one source"),
    ("key: m\nunit: call\naggregation: count\nsources: [{event_type: Api Call}]\n",
     ("metrics/x.yaml: sources[0].event_type: must match a lowercase name like api_call"
     " (got 'Api Call')")),
    (metric(extra="colour: red\n"), "metrics/x.yaml: colour: unknown field (allowed:"),
])
def test_metric_errors(load_errors, text, message) -> None:
    errors = load_errors(metrics__x_yaml=text)
    assert any(e.startswith(message) for e in errors), errors


def test_file_level_errors(load_errors) -> None:
    errors = load_errors(
        metrics__a_yaml="key: [unclosed\n",
        metrics__b_yaml="key: m\nkey: n\n",
        metrics__c_yaml="",
        metrics__d_yaml="- a list\n",
    )
    assert any(e.startswith("metrics/a.yaml: not valid YAML: while parsing a flow sequence")
               and "line 1, column 6" in e for e in errors)
    assert any(e.startswith("metrics/b.yaml: not valid YAML: while constructing a mapping")
               and "found duplicate key 'key'" in e for e in errors)
    assert "metrics/c.yaml: (top level): the file is empty" in errors
    assert "metrics/d.yaml: (top level): must be a mapping (got a list)" in errors


def test_duplicate_keys_across_files(load_errors) -> None:
    errors = load_errors(metrics__zz_yaml=metric(key="api_calls"))
    assert errors == [("metrics/zz.yaml: duplicate metric key 'api_calls', already in"
                      " metrics/api_calls.yaml")]


PLAN = """key: p
currency: {currency}
versions:
  - effective_from: {effective}
    charges:
{charges}"""

CHARGE = """      - key: {key}
        metric: {metric}
        price: {price}
"""
FLAT = "{model: flat, amount: '1'}"


def plan(currency: str = "USD", effective: str = "2026-01-01", charges: str = "") -> str:
    return PLAN.format(currency=currency, effective=effective,
                       charges=charges or CHARGE.format(key="c", metric="api_calls", price=FLAT))


@pytest.mark.parametrize(("text", "message"), [
    (plan(charges=CHARGE.format(key="calls", metric="api_calls", price="""
          model: graduated
          tiers:
            - {up_to: 5, unit_amount: "1"}
            - {up_to: 10, unit_amount: "1"}
            - {up_to: 10, unit_amount: "1"}
            - {up_to: null, unit_amount: "1"}""")),
     ("plans/x.yaml: versions[0].charges[0].price.tiers[2].up_to: must be greater than"
     " tiers[1].up_to (10) (got 10)")),
    (plan(currency="USX"),
     "plans/x.yaml: currency: not an ISO 4217 currency code (like USD, EUR, JPY) (got 'USX')"),
    (plan(effective="2026-01-01T00:00:00"), ("plans/x.yaml: versions[0].effective_from: must"
     " include a UTC offset (like 2026-12-01 or 2026-12-01T00:00:00Z) (got 2026-01-01T00:00:00)")),
    (plan(effective="2026-01-01T00:30:00Z"), ("plans/x.yaml: versions[0].effective_from: must be"
     " on a whole UTC hour (periods and hourly windows are) (got 2026-01-01T00:30:00+00:00)")),
    (plan(effective="0001-01-01T00:00:00+01:00"), ("plans/x.yaml: versions[0].effective_from:"
     " is out of range in UTC (years 1 to 9999) (got 0001-01-01T00:00:00+01:00)")),
    (plan(effective="soon"), ("plans/x.yaml: versions[0].effective_from: must be a date or an"
     " ISO 8601 date-time (like 2026-12-01 or 2026-12-01T00:00:00Z) (got 'soon')")),
    (plan(effective="2026-13-01"), ("plans/x.yaml: versions[0].effective_from: must be a date"
     " or an ISO 8601 date-time (like 2026-12-01 or 2026-12-01T00:00:00Z) (got '2026-13-01')")),
    # Python's fromisoformat takes week dates and ISO 8601's basic forms: the catalog does not
    (plan(effective="2026-W49-1"), ("plans/x.yaml: versions[0].effective_from: must be a date"
     " or an ISO 8601 date-time (like 2026-12-01 or 2026-12-01T00:00:00Z) (got '2026-W49-1')")),
    (plan(effective="'20261207T000000Z'"), ("plans/x.yaml: versions[0].effective_from: must be a"
     " date or an ISO 8601 date-time (like 2026-12-01 or 2026-12-01T00:00:00Z)"
     " (got '20261207T000000Z')")),
    (plan(charges=CHARGE.format(key="c", metric="api_callz", price=FLAT)),
     ("plans/x.yaml: versions[0].charges[0].metric: no metric with this key (metrics: api_calls,"
     " bandwidth_bytes, compute_ms, payment_value) (got 'api_callz')")),
    (plan(charges="      - key: c\n        price: {model: per_unit, unit_amount: '1'}\n"),
     ("plans/x.yaml: versions[0].charges[0].metric: required for a per_unit price (only flat"
     " prices need none)")),
    (plan(charges=CHARGE.format(key="c", metric="api_calls", price=FLAT) * 2),
     ("plans/x.yaml: versions[0].charges[1].key: duplicate charge key, also charges[0]"
     " (got 'c')")),
    (plan(charges=CHARGE.format(key="c", metric="api_calls",
                                price="{model: percentage, percent: '1'}")),
     ("plans/x.yaml: versions[0].charges[0].metric: a percentage price rates transaction values,"
     " so its metric must sum a value field (api_calls is count) (got 'api_calls')")),
    (plan() + "billing_period: {interval: weekly, anchor_day: 32}\n",
     "plans/x.yaml: billing_period.interval: must be one of: monthly (got 'weekly')"),
    (plan() + "billing_period: {interval: monthly, anchor_day: 32}\n",
     "plans/x.yaml: billing_period.anchor_day: must be between 1 and 31 (got 32)"),
    # a version in force from Dec 1 anchored on the 15th: Nov 20 was in [Nov 1, Dec 1)
    # and Dec 10 in [Nov 15, Dec 15), so Nov 15 to Dec 1 fell in two periods
    (plan() + "  - effective_from: 2026-12-01\n    billing_period: {interval: monthly,"
     " anchor_day: 15}\n    charges:\n" + CHARGE.format(key="c", metric="api_calls", price=FLAT),
     ("plans/x.yaml: versions[1].billing_period.anchor_day: must be the plan's anchor day (1):"
      " a version cannot move the period boundary (got 15)")),
    ("key: p\nversions:\n  - effective_from: 2026-01-01\n    charges:\n"
     + CHARGE.format(key="c", metric="api_calls", price=FLAT),
     "plans/x.yaml: versions[0].currency: required (here or at the top of the plan)"),
    ("key: p\ncurrency: USD\nversions: []\n", ("plans/x.yaml: versions: must hold at least one"
     " version")),
])
def test_plan_errors(load_errors, text, message) -> None:
    errors = load_errors(plans__x_yaml=text)
    assert message in errors, errors


def test_versions_must_ascend(load_errors) -> None:
    charges = CHARGE.format(key="c", metric="api_calls", price=FLAT)
    text = (f"key: p\ncurrency: USD\nversions:\n  - version: 2\n    effective_from: 2026-06-01\n"
            f"    charges:\n{charges}  - version: 1\n    effective_from: 2026-01-01\n"
            f"    charges:\n{charges}")
    assert load_errors(plans__x_yaml=text) == [
        "plans/x.yaml: versions[1].version: must be greater than versions[0].version (2) (got 1)",
        ("plans/x.yaml: versions[1].effective_from: must be later than"
        " versions[0].effective_from (2026-06-01T00:00:00+00:00) (got 2026-01-01T00:00:00+00:00)"),
    ]


@pytest.mark.parametrize("bad", [0, 1])
def test_version_order_is_checked_in_versions_with_other_errors(load_errors, bad) -> None:
    # Two `version: 1` entries, effective_from descending, and a duplicate charge key in
    # one of them: every problem is reported at once, not the order ones after the fix.
    once = CHARGE.format(key="c", metric="api_calls", price=FLAT)
    twice = once + once
    text = (f"key: p\ncurrency: USD\nversions:\n  - version: 1\n    effective_from: 2026-06-01\n"
            f"    charges:\n{twice if bad == 0 else once}"
            f"  - version: 1\n    effective_from: 2026-01-01\n"
            f"    charges:\n{twice if bad == 1 else once}")
    assert load_errors(plans__x_yaml=text) == [
        (f"plans/x.yaml: versions[{bad}].charges[1].key: duplicate charge key, also charges[0]"
         " (got 'c')"),
        "plans/x.yaml: versions[1].version: must be greater than versions[0].version (1) (got 1)",
        ("plans/x.yaml: versions[1].effective_from: must be later than"
         " versions[0].effective_from (2026-06-01T00:00:00+00:00) (got 2026-01-01T00:00:00+00:00)"),
    ]


CUSTOMER = """tenant_id: {tenant}
name: X
email: x@x.example
plan: {plan}
api_keys: [{key}]
"""


def customer(tenant: str = "x", plan: str = "growth", key: str = "ak_x", extra: str = "") -> str:
    return CUSTOMER.format(tenant=tenant, plan=plan, key=key) + extra


@pytest.mark.parametrize(("text", "message"), [
    (customer(plan="gold"), ("customers/x.yaml: plan: no plan with this key (plans: free, growth,"
     " payments, startup) (got 'gold')")),
    (customer(extra="overrides:\n  api_callz: {model: flat, amount: '1'}\n"),
     ("customers/x.yaml: overrides.api_callz: plan growth has no charge with this key (charges:"
     " api_calls, bandwidth, compute, platform_fee) (got 'api_callz')")),
    (customer(extra="overrides:\n  platform_fee: {model: per_unit, unit_amount: '1'}\n"),
     ("customers/x.yaml: overrides.platform_fee.model: the charge platform_fee has no metric,"
     " so its price must be flat (got 'per_unit')")),
    (customer(plan="payments", extra="overrides:\n  payment_fees: {model: flat, amount: '1'}\n"),
     ("customers/x.yaml: overrides.payment_fees.model: must rate values like the plan's"
     " percentage price (got 'flat')")),
    (customer(extra="overrides:\n  api_calls: {model: volume, tiers: [{up_to: 5}]}\n"),
     ("customers/x.yaml: overrides.api_calls.tiers[0].up_to: must be null: the last tier is"
     " open-ended (got 5)")),
    (customer(key="ak_acme_demo"), ("customers/x.yaml: api_keys[0]: credential already maps to"
     " tenant acme (customers/acme.yaml api_keys[0]); a credential maps to one tenant only"
     " (got 'ak_acme_demo')")),
    (customer(extra="gateway_consumers: [ak_x]\n"), ("customers/x.yaml: gateway_consumers[0]:"
     " credential already maps to tenant x (customers/x.yaml api_keys[0]); a credential maps to"
     " one tenant only (got 'ak_x')")),
    (customer(extra="quotas:\n  calls: 5\n"),
     "customers/x.yaml: quotas.calls: no metric with this key (got 'calls')"),
    (customer(extra="caps:\n  api_calls: -5\n"),
     "customers/x.yaml: caps.api_calls: must not be negative (got -5)"),
    (customer(extra="alerts:\n  api_calls: [10, 5]\n"),
     "customers/x.yaml: alerts.api_calls[1]: must be greater than 10 (got 5)"),
    (customer(extra="caps: {api_calls: 100}\nalerts:\n  api_calls: [10, 500]\n"),
     "customers/x.yaml: alerts.api_calls[1]: must be at most caps.api_calls (100) (got 500)"),
    (customer(extra="alerts:\n  api_calls: 10\n"),
     "customers/x.yaml: alerts.api_calls: must be a non-empty list of thresholds (got 10)"),
    (customer(extra="timezone: Mars/Olympus\n"), ("customers/x.yaml: timezone: not an IANA"
     " timezone (like UTC, America/New_York) (got 'Mars/Olympus')")),
    (customer(extra="anchor_day: 0\n"),
     "customers/x.yaml: anchor_day: must be between 1 and 31 (got 0)"),
    (customer(extra="tax_rate: '120'\n"), ("customers/x.yaml: tax_rate: must be at most 100"
     " (got 120)")),
    (customer(extra="billing_start: 2026-13-01\n"), ("customers/x.yaml: billing_start: must be"
     " a date written YYYY-MM-DD, like 2026-12-01 (got '2026-13-01')")),
    (customer(extra="billing_start: 20261101\n"), ("customers/x.yaml: billing_start: must be"
     " a date written YYYY-MM-DD, like 2026-12-01 (got 20261101)")),
    (customer(extra="billing_start: 2026-11-01T00:00:00Z\n"), ("customers/x.yaml: billing_start:"
     " must be a date written YYYY-MM-DD, like 2026-12-01 (got 2026-11-01T00:00:00+00:00)")),
    # valid dates whose period starts in year 0 or ends in year 10000: billing_from failed
    (customer(extra="anchor_day: 15\nbilling_start: 0001-01-01\n"), ("customers/x.yaml:"
     " billing_start: its billing period is out of range (years 1 to 9999) (got 0001-01-01)")),
    (customer(extra="billing_start: 9999-12-31\n"), ("customers/x.yaml: billing_start: its"
     " billing period is out of range (years 1 to 9999) (got 9999-12-31)")),
    (customer().replace("x@x.example", "nobody"),
     "customers/x.yaml: email: must match an email address (got 'nobody')"),
    (customer(extra="api_keys: [ak_y]\n"), ("customers/x.yaml: not valid YAML: while"
     " constructing a mapping")),
    (customer(tenant="acme", key="ak_other"), ("customers/x.yaml: duplicate tenant_id 'acme',"
     " already in customers/acme.yaml")),
    (customer(tenant="bad tenant"), ("customers/x.yaml: tenant_id: must match letters, digits"
     " and _ . : - (got 'bad tenant')")),
])
def test_customer_errors(load_errors, text, message) -> None:
    errors = load_errors(customers__x_yaml=text)
    assert any(e.startswith(message) for e in errors), errors


def test_every_error_in_every_file_is_collected(load_errors) -> None:
    errors = load_errors(
        metrics__x_yaml=metric(aggregation="avg"),
        plans__x_yaml=plan(currency="USX"),
        customers__x_yaml=customer(plan="gold", extra="anchor_day: 40\n"),
    )
    assert errors == [
        ("metrics/x.yaml: aggregation: must be one of: count, sum, max, unique_count, latest"
        " (got 'avg')"),
        "plans/x.yaml: currency: not an ISO 4217 currency code (like USD, EUR, JPY) (got 'USX')",
        "plans/x.yaml: versions[0].currency: required (here or at the top of the plan)",
        ("customers/x.yaml: plan: no plan with this key (plans: free, growth, p, payments,"
        " startup) (got 'gold')"),
        "customers/x.yaml: anchor_day: must be between 1 and 31 (got 40)",
    ]


def test_cross_checks_run_in_files_with_other_errors_and_do_not_cascade(load_errors) -> None:
    growth = (EXAMPLE / "plans" / "growth.yaml").read_text()
    broken = growth.replace("metric: compute_ms", "metric: compute_time", 1).replace(
        'amount: "49"', 'amount: "-49"', 1)
    errors = load_errors(plans__growth_yaml=broken)
    assert errors == [
        ("plans/growth.yaml: versions[0].charges[2].metric: no metric with this key (metrics:"
        " api_calls, bandwidth_bytes, compute_ms, payment_value) (got 'compute_time')"),
        "plans/growth.yaml: versions[0].charges[3].price.amount: must not be negative (got -49)",
    ]  # and nothing about the customers on growth: the plan is known, only broken
