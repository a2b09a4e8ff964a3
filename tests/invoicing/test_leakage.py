"""`aforo leakage` over the tables the close's tests write: usage nobody is billed for,
with its reason."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from aforo.catalog import load_catalog
from aforo.leakage import leakage
from aforo.settings import Settings
from invoicing import InvoicingConfig, close_period, open_documents
from tests.invoicing import truth
from tests.invoicing.conftest import BILLING_STARTS
from tests.invoicing.support import CATALOG, END, START, Event, write_tables
from tests.invoicing.test_close import NOVEMBER


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


def test_usage_streamed_while_the_tenant_was_unknown_is_listed_until_the_catalog_prices_it(
        tmp_path: Path, events: list[Event], config: InvoicingConfig) -> None:
    """The stream rates a tenant the catalog does not know at zero (billed = false). All
    of its usage, late events included, is leakage while it stays unknown; once the
    catalog has the customer the close bills that usage, and leakage no longer lists it."""
    unknown_catalog = shutil.copytree(CATALOG, tmp_path / "catalog")
    (unknown_catalog / "customers" / "globex.yaml").unlink()
    write_tables(tmp_path / "home" / "data", load_catalog(unknown_catalog), events)
    unknown = Settings(home=tmp_path / "home", catalog_dir=unknown_catalog)
    known = unknown.model_copy(update={"catalog_dir": CATALOG})

    globex = [e for e in events if e.tenant == "globex"]
    assert any(e.late for e in globex)
    u = truth.usage(events, "globex", START, END)
    listed = {leak.metric: (leak.why, leak.quantity, leak.events)
              for leak in leakage(unknown, with_dead_letters=False).leaks
              if leak.tenant_id == "globex"}
    assert listed == {
        "api_calls": ("no customer", u.calls, u.calls),
        "bandwidth_bytes": ("no customer", u.gb * truth.GB, len(globex)),
    }

    # its plan prices calls, not bandwidth
    assert {leak.metric: leak.why for leak in leakage(known, with_dead_letters=False).leaks
            if leak.tenant_id == "globex"} == {"bandwidth_bytes": "metric not priced by the plan"}
    close_period(known, "2026-11", finalize=True, now=datetime(2026, 12, 20, tzinfo=UTC),
                 config=config)
    with open_documents(known) as store:
        doc = next(d for d in store.documents(label="2026-11") if d.tenant_id == "globex")
    assert doc.total == truth.total("globex", truth.usage(events, "globex", *NOVEMBER)) > 0
