"""The period close through real DuckDB over Parquet written as the metering job
writes it: totals against the ground truth, drafts and the grace period,
idempotence, late usage after finalization, and reconciliation."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from aforo.catalog import Catalog, load_catalog
from aforo.settings import Settings
from invoicing import (
    InvoicingConfig,
    close_due,
    close_period,
    load_invoicing_config,
    open_documents,
    to_csv,
    to_json,
)
from invoicing.config import Issuer
from invoicing.errors import InvoicingError, PeriodError
from invoicing.periods import PeriodLabel, customer_period
from invoicing.store import database_path
from tests.invoicing import truth
from tests.invoicing.conftest import BILLING_STARTS, DEC_3, invoke
from tests.invoicing.support import CATALOG, Event, late_arrivals, write_late, write_tables

TENANTS = ["acme", "cyberdyne", "globex", "hooli", "initech", "stark", "umbrella", "wayne"]
ENDED = [t for t in TENANTS if t != "initech"]  # initech's period ends 15 Dec (New York)
NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def execute(settings: Settings, statement: str, *, read_only: bool = True) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(database_path(settings)), read_only=read_only)
    try:
        return con.execute(statement).fetchall()
    finally:
        con.close()


def rows(settings: Settings, table: str) -> list[tuple[object, ...]]:
    return sorted(execute(settings, f"SELECT * FROM {table}"), key=repr)


def exports(settings: Settings) -> dict[str, bytes]:
    with open_documents(settings) as store:
        docs = store.documents()
    return {d.invoice_id: to_json(d) + to_csv([d]) for d in docs}


def cheaper_umbrella(events: list[Event]) -> list[Event]:
    """Late server errors (not calls) in umbrella's November whose bytes push its
    volume-priced bandwidth just past 10 GB, into the cheaper tier: November costs
    less once they are billed, so the close issues a credit note."""
    gb = truth.usage(events, "umbrella", *NOVEMBER).gb
    assert Decimal("7.6") < gb < Decimal("9.9")
    missing = int((Decimal("10.05") - gb) * truth.GB)
    return late_arrivals(events, "umbrella", 5, *NOVEMBER, seed=2, status=503,
                         response_bytes=missing // 5)


def test_periods_follow_each_customers_anchor_and_timezone(catalog: Catalog) -> None:
    label = PeriodLabel.parse("2026-11")
    acme = customer_period(catalog, "acme", label)
    initech = customer_period(catalog, "initech", label)
    assert (acme.start, acme.end) == (datetime(2026, 11, 1, tzinfo=UTC),
                                      datetime(2026, 12, 1, tzinfo=UTC))
    # anchor 15, midnight in New York (UTC-5 in November and December)
    assert (initech.start, initech.end) == (datetime(2026, 11, 15, 5, tzinfo=UTC),
                                            datetime(2026, 12, 15, 5, tzinfo=UTC))


def test_invoice_totals_equal_the_ground_truth_to_the_cent(
        home: Settings, catalog: Catalog, events: list[Event], config: InvoicingConfig) -> None:
    result = close_period(home, "2026-11", finalize=True, now=datetime(2026, 12, 20, tzinfo=UTC),
                          config=config)
    assert not result.discrepancies
    assert [o.tenant_id for o in result.outcomes] == TENANTS
    assert {o.action for o in result.outcomes} == {"finalized"}
    with open_documents(home) as store:
        docs = {d.tenant_id: d for d in store.documents(label="2026-11")}
    for tenant in TENANTS:
        period = customer_period(catalog, tenant, PeriodLabel.parse("2026-11"))
        u = truth.usage(events, tenant, period.start, period.end)
        expected = truth.lines(tenant, u)
        doc = docs[tenant]
        assert {line.charge_key: line.amount for line in doc.lines} == {
            k: truth.cents(v) for k, v in expected.items()}, tenant
        assert {line.charge_key: line.amount_exact for line in doc.lines} == expected, tenant
        assert doc.total == truth.total(tenant, u), tenant
    # what each plan exercises really happened in this data
    assert docs["cyberdyne"].lines[0].breakdown[-1].key == "maximum-adjustment"
    assert docs["wayne"].lines[0].breakdown[-1].key == "minimum-adjustment"
    assert docs["globex"].lines[0].breakdown[0].key == "free-units"
    assert docs["stark"].tax > 0 and docs["stark"].tax_rate == Decimal("8.875")
    assert docs["initech"].lines[2].amount == Decimal("499.00")  # the enterprise override
    numbers = sorted(d.number or "" for d in docs.values())
    assert numbers == [f"INV-2026-{n:04d}" for n in range(1, 9)]


def test_drafts_the_catalog_no_longer_invoices_are_deleted_by_the_next_close(
        home: Settings, late_starts: Settings, config: InvoicingConfig) -> None:
    """Drafts made under an earlier catalog (before hooli and initech got a
    billing_start, before wayne left) would otherwise stay drafts forever."""
    def october() -> set[str]:
        with open_documents(home) as store:
            return {d.tenant_id for d in store.documents(label="2026-10")}

    close_period(home, "2026-10", now=DEC_3, config=config)
    assert october() == set(TENANTS)
    result = close_period(late_starts, "2026-10", now=DEC_3, config=config)
    deleted = {o.tenant_id: o.note for o in result.outcomes if o.action == "deleted"}
    assert deleted == dict.fromkeys(BILLING_STARTS, "before billing start")
    assert october() == set(TENANTS) - set(BILLING_STARTS)

    # a close of that customer alone deletes its draft, and says why nothing is left
    close_period(home, "2026-10", tenant="hooli", now=DEC_3, config=config)
    result = close_period(late_starts, "2026-10", tenant="hooli", now=DEC_3, config=config)
    assert [(o.invoice_id, o.action) for o in result.outcomes] == [("hooli/2026-10", "deleted")]
    assert "hooli" not in october()
    with pytest.raises(PeriodError, match="before billing start for hooli"):
        close_period(late_starts, "2026-10", tenant="hooli", now=DEC_3, config=config)

    # the scheduled run does the same, and a customer gone from the catalog loses its drafts
    close_period(home, "2026-11", now=DEC_3, config=config)
    (late_starts.catalog_dir / "customers" / "wayne.yaml").unlink()
    results = close_due(late_starts, now=datetime(2026, 12, 1, 12, tzinfo=UTC), config=config)
    deleted = {(r.label, o.tenant_id): o.note for r in results for o in r.outcomes
               if o.action == "deleted"}
    assert deleted == {("2026-10", "wayne"): "not in the catalog",
                       ("2026-11", "wayne"): "not in the catalog"}
    with open_documents(home) as store:
        assert not store.documents(tenant="wayne")


def test_drafts_take_late_events_until_the_grace_period_passes(
        home: Settings, catalog: Catalog, events: list[Event], config: InvoicingConfig) -> None:
    first = close_period(home, "2026-11", now=datetime(2026, 12, 1, 6, tzinfo=UTC), config=config)
    assert {o.status for o in first.outcomes} == {"draft"}
    with open_documents(home) as store:
        before = store.find("acme/2026-11")
    assert before.number is None and before.issue_date is None

    # within the grace period a scheduled run refreshes the drafts and finalizes nothing
    # of November (October, long over, is finalized: its grace passed)
    results = close_due(home, now=datetime(2026, 12, 1, 12, tzinfo=UTC), config=config)
    november = next(r for r in results if r.label == "2026-11")
    assert {o.action for o in november.outcomes} == {"unchanged"}

    late = late_arrivals(events, "acme", 40, datetime(2026, 11, 5, tzinfo=UTC),
                         datetime(2026, 11, 25, tzinfo=UTC), status=200)
    write_late(home.data_dir, catalog, late, "late1")
    results = close_due(home, now=datetime(2026, 12, 1, 18, tzinfo=UTC), config=config)
    november = next(r for r in results if r.label == "2026-11")
    actions = {o.tenant_id: o.action for o in november.outcomes}
    assert actions["acme"] == "updated" and actions["stark"] == "unchanged"
    with open_documents(home) as store:
        after = store.find("acme/2026-11")
    assert after.status == "draft"
    assert after.lines[0].quantity == before.lines[0].quantity + 40

    results = close_due(home, now=datetime(2026, 12, 2, 1, tzinfo=UTC), config=config)
    november = next(r for r in results if r.label == "2026-11")
    assert {o.tenant_id for o in november.outcomes if o.action == "finalized"} == set(ENDED)
    with open_documents(home) as store:
        final = store.find("acme/2026-11")
        initech = store.find("initech/2026-10")  # its October period ended 15 Nov
    assert final.status == "final" and final.lines == after.lines
    assert initech.status == "final"
    u = truth.usage(events + late, "acme", datetime(2026, 11, 1, tzinfo=UTC),
                    datetime(2026, 12, 1, tzinfo=UTC))
    assert final.total == truth.total("acme", u)

    # safe to run every hour: nothing more to do, nothing numbered twice
    documents = rows(home, "invoices")
    assert close_due(home, now=datetime(2026, 12, 2, 2, tzinfo=UTC), config=config) == []
    assert rows(home, "invoices") == documents


def test_closing_again_changes_nothing_and_numbers_nothing_twice(
        home: Settings, config: InvoicingConfig) -> None:
    close_period(home, "2026-11", now=DEC_3, config=config)
    drafts = rows(home, "invoices"), rows(home, "invoice_lines"), exports(home)
    again = close_period(home, "2026-11", now=DEC_3 + timedelta(hours=1), config=config)
    assert {o.action for o in again.outcomes} == {"unchanged"}
    assert (rows(home, "invoices"), rows(home, "invoice_lines"), exports(home)) == drafts

    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    state = [rows(home, t) for t in ("invoices", "invoice_lines", "invoice_sequences")]
    files = exports(home)
    for finalize in (True, False):
        rerun = close_period(home, "2026-11", finalize=finalize, now=DEC_3 + timedelta(days=1),
                             config=config)
        assert {o.action for o in rerun.outcomes} == {"final", "unchanged"}
        assert [rows(home, t) for t in ("invoices", "invoice_lines", "invoice_sequences")] == state
        assert exports(home) == files
    assert rows(home, "invoice_sequences") == [("INV", 2026, "aforo", 7)]


def test_numbers_follow_issue_dates(home: Settings, config: InvoicingConfig) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3 + timedelta(days=7), config=config)
    state = [rows(home, t) for t in ("invoices", "invoice_sequences")]
    # a replay as of an earlier day would number October after November, issued before it
    with pytest.raises(PeriodError, match="issue date 2026-12-03 is before 2026-12-10, the issue"
                                          " date of INV-2026-0007"):
        close_period(home, "2026-10", finalize=True, now=DEC_3, config=config)
    assert [rows(home, t) for t in ("invoices", "invoice_sequences")] == state
    assert execute(home, "SELECT status FROM close_runs ORDER BY run_id") == [("ok",), ("failed",)]
    # the same day is fine
    close_period(home, "2026-10", finalize=True, now=DEC_3 + timedelta(days=7, hours=1),
                 config=config)


def test_late_usage_after_finalization_is_an_adjustment_or_a_credit_note(
        home: Settings, catalog: Catalog, events: list[Event], config: InvoicingConfig) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    before = exports(home)
    with open_documents(home) as store:
        acme_nov = store.find("acme/2026-11")
        umbrella_nov = store.find("umbrella/2026-11")

    acme_late = late_arrivals(events, "acme", 30, *NOVEMBER, seed=1, status=200)  # 30 more calls
    umbrella_late = cheaper_umbrella(events)
    write_late(home.data_dir, catalog, acme_late + umbrella_late, "late2")

    result = close_period(home, "2026-12", finalize=True, now=datetime(2027, 1, 3, tzinfo=UTC),
                          config=config)
    assert not result.discrepancies
    with open_documents(home) as store:
        acme_dec = store.find("acme/2026-12")
        credit = store.find("umbrella/2026-11/credit/2026-12")
        umbrella_dec = store.find("umbrella/2026-12")
    # the final November invoices are untouched, byte for byte
    assert {k: v for k, v in exports(home).items() if k in before} == before

    adjustments = [line for line in acme_dec.lines if line.kind == "adjustment"]
    assert {line.charge_key for line in adjustments} == {"api_calls", "bandwidth"}
    assert all(line.adjusts and line.adjusts.number == acme_nov.number for line in adjustments)
    assert "late usage for 2026-11" in adjustments[0].description
    calls = next(line for line in adjustments if line.charge_key == "api_calls")
    assert calls.quantity == 30
    # November, billed across both documents, is the whole period rated once
    u = truth.usage(events + acme_late, "acme", *NOVEMBER)
    expected = truth.lines("acme", u)
    for charge in ("api_calls", "bandwidth"):
        billed = sum(line.amount for line in acme_nov.lines + tuple(adjustments)
                     if line.charge_key == charge)
        assert billed == truth.cents(expected[charge])

    assert credit.kind == "credit_note" and credit.status == "final"
    assert credit.number == "CN-2027-0001" and credit.credits_number == umbrella_nov.number
    assert credit.total < 0 and credit.period_label == "2026-11"
    assert not any(line.kind == "adjustment" for line in umbrella_dec.lines)
    u = truth.usage(events + umbrella_late, "umbrella", *NOVEMBER)
    assert umbrella_nov.total + credit.total == truth.total("umbrella", u)

    # once billed, the late usage is not billed again
    again = close_period(home, "2026-12", now=datetime(2027, 1, 4, tzinfo=UTC), config=config)
    assert {o.tenant_id: o.action for o in again.outcomes} == {
        t: "unchanged" if t == "initech" else "final" for t in TENANTS}  # initech: a draft
    close_period(home, "2027-01", now=datetime(2027, 2, 3, tzinfo=UTC), config=config,
                 allow_empty=True)
    with open_documents(home) as store:
        january = store.find("acme/2027-01")
    assert not any(line.kind == "adjustment" for line in january.lines)


def test_late_usage_older_than_the_lookback_is_reported_until_billed(
        home: Settings, catalog: Catalog, events: list[Event]) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3)
    late = late_arrivals(events, "acme", 30, *NOVEMBER, seed=1, status=200)
    write_late(home.data_dir, catalog, late, "late-old")
    january = datetime(2027, 2, 3, tzinfo=UTC)

    result = close_period(home, "2027-01", now=january, allow_empty=True,
                          config=load_invoicing_config(None, adjustment_lookback=0))
    with open_documents(home) as store:
        nov = store.find("acme/2026-11")
        assert not [line for line in store.find("acme/2027-01").lines if line.kind == "adjustment"]
    assert [(d.kind, d.tenant_id, d.subject) for d in result.discrepancies] == [
        ("beyond-lookback", "acme", nov.number)]
    assert "older than adjustment_lookback (0 periods): not billed" in result.discrepancies[0].detail

    # with the lookback raised, the next close bills it, and the report ends
    result = close_period(home, "2027-01", now=january, allow_empty=True,
                          config=load_invoicing_config(None))
    assert not result.discrepancies
    with open_documents(home) as store:
        adjustments = [line for line in store.find("acme/2027-01").lines if line.kind == "adjustment"]
    assert next(line for line in adjustments if line.charge_key == "api_calls").quantity == 30


def test_a_final_invoice_closed_again_says_whether_its_usage_changed(
        home: Settings, catalog: Catalog, events: list[Event], tmp_path: Path) -> None:
    """By quantity: a price edited in the catalog since finalization is not new usage."""
    def note() -> str:
        result = close_period(home, "2026-11", now=DEC_3)
        return next(o.note for o in result.outcomes if o.tenant_id == "acme")

    close_period(home, "2026-11", finalize=True, now=DEC_3)
    assert note() == ""
    edited = shutil.copytree(home.catalog_dir, tmp_path / "edited")
    plan = edited / "plans" / "growth.yaml"
    plan.write_text(plan.read_text().replace('unit_amount: "0.09"', 'unit_amount: "0.10"', 1))
    home = home.model_copy(update={"catalog_dir": edited})
    assert note() == ""
    write_late(home.data_dir, catalog, late_arrivals(events, "acme", 5, *NOVEMBER, seed=3,
                                                     status=200), "late-note")
    assert note() == "usage changed since finalization: billed as an adjustment on a later invoice"


def test_a_credit_note_has_no_due_date_in_any_output(
        home: Settings, catalog: Catalog, events: list[Event], config: InvoicingConfig) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    write_late(home.data_dir, catalog, cheaper_umbrella(events), "late2")
    close_period(home, "2026-12", finalize=True, now=datetime(2027, 1, 3, tzinfo=UTC), config=config)

    def stored() -> set[tuple[object, ...]]:
        return set(execute(home, "SELECT kind, due_date IS NULL FROM invoices"
                                 " WHERE tenant_id = 'umbrella' AND status = 'final'"))

    def shown(number: str) -> dict[str, object]:
        """The due date in every form `aforo invoices` gives the document."""
        listed = invoke(home, "invoices", ["list", "--tenant", "umbrella"]).output.splitlines()
        issued = next(line for line in invoke(home, "invoices", ["show", number]).output.splitlines()
                      if line.startswith("  issued"))
        render = {fmt: invoke(home, "invoices", ["render", number, "--format", fmt]).output
                  for fmt in ("json", "csv", "html")}
        return {"list": next(line for line in listed if line.startswith(number)).split()[-1],
                "show": issued.split("due ")[-1], "json": json.loads(render["json"])["due_date"],
                "csv": next(csv.DictReader(io.StringIO(render["csv"])))["due_date"],
                "html": "Due date" in render["html"]}

    nothing = {"list": "-", "show": "-", "json": None, "csv": "", "html": False}
    assert shown("CN-2027-0001") == nothing
    assert stored() == {("invoice", False), ("credit_note", True)}

    # a credit note finalized before: it was stored with a due date, and its row stays as it is
    execute(home, "UPDATE invoices SET due_date = issue_date + 30 WHERE kind = 'credit_note'",
            read_only=False)
    assert shown("CN-2027-0001") == nothing
    assert stored() == {("invoice", False), ("credit_note", False)}


def test_a_credit_note_credits_tax_at_the_rate_of_the_invoice_it_credits(
        home: Settings, events: list[Event], config: InvoicingConfig, tmp_path: Path) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    # umbrella's tax rate changes after its November invoice (0%) is final
    catalog_dir = shutil.copytree(home.catalog_dir, tmp_path / "catalog")
    with (catalog_dir / "customers" / "umbrella.yaml").open("a") as file:
        file.write('tax_rate: "20"\n')
    settings = home.model_copy(update={"catalog_dir": catalog_dir})
    late = cheaper_umbrella(events)
    write_late(home.data_dir, load_catalog(catalog_dir), late, "late2")
    close_period(settings, "2026-12", finalize=True, now=datetime(2027, 1, 3, tzinfo=UTC),
                 config=config)
    with open_documents(home) as store:
        november = store.find("umbrella/2026-11")
        credit = store.find("umbrella/2026-11/credit/2026-12")
        december = store.find("umbrella/2026-12")
    assert december.tax_rate == 20  # the new rate is the new invoice's
    assert credit.tax_rate == november.tax_rate == 0 and credit.tax == 0
    u = truth.usage(events + late, "umbrella", *NOVEMBER)
    assert november.total + credit.total == truth.total("umbrella", u)


def test_late_usage_in_another_currency_than_the_next_invoice_is_invoiced_on_its_own(
        home: Settings, events: list[Event], config: InvoicingConfig, tmp_path: Path) -> None:
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    # growth's version 2, in force from December, is priced in euros
    catalog_dir = shutil.copytree(home.catalog_dir, tmp_path / "catalog")
    growth = catalog_dir / "plans" / "growth.yaml"
    growth.write_text(growth.read_text().replace(
        "  - version: 2\n", "  - version: 2\n    currency: EUR\n"))
    settings = home.model_copy(update={"catalog_dir": catalog_dir})
    late = late_arrivals(events, "acme", 30, *NOVEMBER, seed=1, status=200)
    write_late(home.data_dir, load_catalog(catalog_dir), late, "late2")
    close_period(settings, "2026-12", now=datetime(2027, 1, 2, tzinfo=UTC), config=config)
    result = close_period(settings, "2026-12", finalize=True,
                          now=datetime(2027, 1, 3, tzinfo=UTC), config=config)
    with open_documents(home) as store:
        november = store.find("acme/2026-11")
        december = store.find("acme/2026-12")
        extra = store.find("acme/2026-11/adjustment/2026-12")
    assert december.currency == "EUR" and all(line.kind == "charge" for line in december.lines)
    assert (extra.kind, extra.status, extra.currency, extra.period_label) == (
        "invoice", "final", "USD", "2026-11")
    assert {line.kind for line in extra.lines} == {"adjustment"}
    assert all(line.adjusts and line.adjusts.number == november.number for line in extra.lines)
    assert extra.number == "INV-2027-0001" and extra.due_date is not None
    outcomes = {o.invoice_id: o for o in result.outcomes if o.tenant_id == "acme"}
    assert {k: (o.action, o.note, o.streamed is None) for k, o in outcomes.items()} == {
        "acme/2026-12": ("finalized", "", False),
        extra.invoice_id: ("finalized", f"late usage, adjusts {november.number}", True)}
    # November, billed across both USD documents, is the whole period rated once
    assert november.total + extra.total == truth.total("acme", truth.usage(events + late, "acme",
                                                                           *NOVEMBER))

    # billed once: a later close adds nothing for November
    close_period(settings, "2027-01", now=datetime(2027, 2, 3, tzinfo=UTC), config=config,
                 allow_empty=True)
    with open_documents(home) as store:
        assert not any(line.kind == "adjustment" for line in store.find("acme/2027-01").lines)
        assert len(store.documents(tenant="acme", label="2026-11")) == 2


def test_corrections_of_an_invoice_come_from_its_issuer(
        home: Settings, catalog: Catalog, events: list[Event]) -> None:
    widgets = Issuer(name="Widget Labs GmbH", invoice_prefix="WL", credit_note_prefix="WLC")
    before = InvoicingConfig(issuers={"aforo": Issuer(), "widgets": widgets})
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=before)
    # from December, acme and umbrella are invoiced by another issuer
    after = before.model_copy(update={"customer_issuers": {"acme": "widgets", "umbrella": "widgets"}})
    acme_late = late_arrivals(events, "acme", 30, *NOVEMBER, seed=1, status=200)
    write_late(home.data_dir, catalog, acme_late + cheaper_umbrella(events), "late2")
    close_period(home, "2026-12", finalize=True, now=datetime(2027, 1, 3, tzinfo=UTC), config=after)
    with open_documents(home) as store:
        docs = {d.invoice_id: d for d in store.documents(lines=True)
                if d.tenant_id in ("acme", "umbrella")}
    assert {k: (d.issuer, d.number) for k, d in docs.items() if d.close_label == "2026-12"} == {
        "acme/2026-12": ("widgets", "WL-2027-0001"),
        "acme/2026-11/adjustment/2026-12": ("aforo", "INV-2027-0001"),
        "umbrella/2026-12": ("widgets", "WL-2027-0002"),
        "umbrella/2026-11/credit/2026-12": ("aforo", "CN-2027-0001"),
    }
    assert docs["umbrella/2026-11/credit/2026-12"].issuer_details["name"] == "Aforo Billing"
    assert {line.kind for line in docs["acme/2026-12"].lines} == {"charge"}

    # an issuer that issued an invoice to correct cannot go from the config
    write_late(home.data_dir, catalog, late_arrivals(events, "acme", 5, *NOVEMBER, seed=3), "late3")
    gone = InvoicingConfig(issuers={"widgets": widgets}, default_issuer="widgets")
    with pytest.raises(InvoicingError, match=r"acme: late usage for INV-2026-0001 is billed by"
                                             r" its issuer, 'aforo', which is not in the"):
        close_period(home, "2027-01", now=datetime(2027, 2, 3, tzinfo=UTC), config=gone,
                     allow_empty=True)
    extra = docs["acme/2026-11/adjustment/2026-12"]
    assert {line.adjusts.number for line in extra.lines if line.adjusts} == {
        docs["acme/2026-11"].number}


@pytest.mark.parametrize(("tenant", "change", "message"), [
    # acme's October ended 1 Nov: from 15 Nov on, 1-15 November would never be invoiced
    ("acme", "anchor_day: 15", "acme: its billing periods moved after INV-2026-0001"
     r" \(2026-10-01 00:00Z .. 2026-11-01 00:00Z\) was issued: the catalog now makes it"
     " 2026-09-15 00:00Z .. 2026-10-15 00:00Z"),
    # initech's October ended 15 Nov: from 1 Nov on, 1-15 November would be invoiced twice
    ("initech", "timezone: UTC\nanchor_day: 1", "initech: its billing periods moved after"),
])
def test_billing_periods_cannot_move_once_invoiced(
        home: Settings, config: InvoicingConfig, tmp_path: Path, tenant: str, change: str,
        message: str) -> None:
    close_period(home, "2026-10", finalize=True, now=datetime(2026, 11, 20, tzinfo=UTC),
                 config=config)
    catalog_dir = shutil.copytree(home.catalog_dir, tmp_path / "catalog")
    customer = catalog_dir / "customers" / f"{tenant}.yaml"
    customer.write_text("\n".join(line for line in customer.read_text().splitlines()
                                  if not line.startswith(("anchor_day", "timezone")))
                        + f"\n{change}\n")
    settings = home.model_copy(update={"catalog_dir": catalog_dir})
    state = rows(home, "invoices")
    with pytest.raises(PeriodError, match=message):
        close_period(settings, "2026-11", now=DEC_3, config=config)
    assert rows(home, "invoices") == state


def test_scheduled_closes_start_at_the_first_period_with_usage_east_of_utc(
        tmp_path: Path, events: list[Event], config: InvoicingConfig) -> None:
    # delhi's periods start at local midnight, 18:00Z the day before: its November line
    # items are in period=2026-10-31, its first (October) ones in period=2026-09-30
    catalog_dir = shutil.copytree(CATALOG, tmp_path / "catalog")
    (catalog_dir / "customers" / "delhi.yaml").write_text(
        "tenant_id: delhi\nname: Delhi Ltd\nemail: ap@delhi.example\naddress: New Delhi\n"
        "plan: growth\ntimezone: Asia/Kolkata\n")
    catalog = load_catalog(catalog_dir)
    delhi = [replace(e, key=f"delhi-{e.key}", tenant="delhi") for e in events if e.tenant == "stark"]
    write_tables(tmp_path / "home" / "data", catalog, events + delhi)
    settings = Settings(home=tmp_path / "home", catalog_dir=catalog_dir)
    assert (settings.data_dir / "line_items" / "period=2026-09-30").is_dir()

    results = close_due(settings, now=datetime(2026, 11, 20, tzinfo=UTC), config=config)
    assert [r.label for r in results] == ["2026-10"]  # no September: nobody has usage there
    with open_documents(settings) as store:
        october = store.find("delhi/2026-10")
    assert october.period_start == datetime(2026, 9, 30, 18, tzinfo=UTC)
    # growth's prices, as acme's, and no tax
    assert october.total == truth.total("acme", truth.usage(
        delhi, "delhi", october.period_start, october.period_end))


def test_no_invoice_for_a_period_that_ends_by_the_customers_billing_start(
        late_starts: Settings, events: list[Event], config: InvoicingConfig) -> None:
    # a catch-up close, after hooli and initech were added: October and November at once
    results = close_due(late_starts, now=datetime(2026, 12, 20, tzinfo=UTC), config=config)
    closed = {r.label: sorted({o.tenant_id for o in r.outcomes}) for r in results}
    assert closed == {"2026-10": [t for t in TENANTS if t not in BILLING_STARTS],
                      "2026-11": TENANTS}
    with open_documents(late_starts) as store:
        october = {d.tenant_id for d in store.documents(label="2026-10")}
        november = {t: store.find(f"{t}/2026-11") for t in BILLING_STARTS}
    assert october == set(TENANTS) - set(BILLING_STARTS)
    # the period holding the start is billed whole, fee and minimum included: no proration
    catalog = load_catalog(late_starts.catalog_dir)
    for tenant, doc in november.items():
        period = customer_period(catalog, tenant, PeriodLabel.parse("2026-11"))
        assert doc.status == "final"
        assert doc.total == truth.total(tenant, truth.usage(events, tenant, period.start, period.end))

    with pytest.raises(PeriodError, match=r"before billing start for hooli \(billing_start 2026-11-10\)"):
        close_period(late_starts, "2026-10", tenant="hooli", now=DEC_3, config=config)
