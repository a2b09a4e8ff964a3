"""`aforo leakage` over the tables the close's tests write: usage nobody is billed for,
with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from aforo.catalog import load_catalog
from aforo.leakage import leakage
from aforo.settings import Settings
from tests.invoicing import truth
from tests.invoicing.conftest import BILLING_STARTS
from tests.invoicing.support import START, Event


def test_usage_before_billing_start_is_listed_with_its_reason(
        home: Settings, late_starts: Settings, events: list[Event]) -> None:
    without = leakage(home, with_dead_letters=False).leaks
    leaks = leakage(late_starts, with_dead_letters=False).leaks
    unstarted = {(leak.tenant_id, leak.metric): leak for leak in leaks
                 if leak.why == "before billing start"}
    # the rest (metrics a plan does not price) is as without billing_start
    assert [leak for leak in leaks if leak.why != "before billing start"] == without

    # every event before the start of the first billed period, late ones included
    catalog = load_catalog(late_starts.catalog_dir)
    starts = {tenant: catalog.billing_from(tenant) for tenant in BILLING_STARTS}
    assert starts == {"hooli": datetime(2026, 11, 1, tzinfo=UTC),
                      "initech": datetime(2026, 11, 15, 5, tzinfo=UTC)}
    hooli = truth.usage(events, "hooli", START, starts["hooli"])
    initech = truth.usage(events, "initech", START, starts["initech"])
    assert {key: leak.quantity for key, leak in unstarted.items()} == {
        ("hooli", "payment_value"): sum(hooli.payments),
        ("initech", "api_calls"): initech.calls,
        ("initech", "bandwidth_bytes"): initech.gb * truth.GB,
    }
    assert unstarted["hooli", "payment_value"].events == len(hooli.payments) > 0
    assert all(leak.last_hour < starts[leak.tenant_id] for leak in unstarted.values())
