"""Reconciliation: defects in the streamed line items or the archive are reported
line by line (run record and CLI), never corrected silently."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aforo.catalog import Catalog
from aforo.settings import Settings
from aforo.tables import EVENTS, LINE_ITEMS
from invoicing import InvoicingConfig, close_period, open_documents
from invoicing.store import database_path
from tests.invoicing.conftest import DEC_3, invoke
from tests.invoicing.support import Event, write_tables


def _acme_rows(settings: Settings) -> pa.Table:
    table = pq.read_table(settings.data_dir / "line_items" / "period=2026-11-01" / "part-0.parquet")
    return table.filter(pc.equal(table["tenant_id"], "acme"))


def _archive_stray(home: Settings, event: Event) -> None:
    """An event in the archive that no line item and no late event counted."""
    folder = home.data_dir / "events" / f"event_date={event.time:%Y-%m-%d}"
    pq.write_table(pa.Table.from_pylist([event.record()], EVENTS), folder / "part-stray.parquet")


def _quantity_differences(output: str, tenant: str, metric: str) -> list[str]:
    return [line.strip() for line in output.splitlines()
            if line.startswith(f"  [quantity] {tenant} {metric}")]


def test_a_clean_month_reconciles(home: Settings, config: InvoicingConfig) -> None:
    result = close_period(home, "2026-11", now=DEC_3, config=config)
    assert result.discrepancies == ()


def test_defects_are_reported_line_by_line_and_not_corrected(
        home: Settings, config: InvoicingConfig, events: list[Event]) -> None:
    clean = close_period(home, "2026-11", now=DEC_3, config=config)
    acme_total = next(o.total for o in clean.outcomes if o.tenant_id == "acme")
    with open_documents(home) as store:
        clean_calls = store.find("acme/2026-11").lines[0].quantity

    # a line item written twice (an at-least-once sink replaying a file) ...
    rows = _acme_rows(home)
    calls = rows.filter(pc.equal(rows["metric"], "api_calls")).slice(5, 1)
    pq.write_table(calls, home.data_dir / "line_items" / "period=2026-11-01" / "part-dup.parquet")
    # ... and an event in the archive that no line item and no late event counted
    stray = next(e for e in events if e.tenant == "stark" and e.type == "api_call"
                 and e.status == 200 and e.time >= datetime(2026, 11, 10, tzinfo=UTC))
    stray = replace(stray, key="stark-stray")
    _archive_stray(home, stray)

    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 3, result.output
    reported = sorted(" ".join(line.split()[:3]) for line in result.output.splitlines()
                      if line.startswith("  ["))
    assert reported == ["[duplicate-window] acme api_calls:", "[quantity] stark api_calls:",
                        "[quantity] stark bandwidth_bytes:", "[streamed-amount] acme api_calls:"]
    window = calls.column("window_start")[0].as_py()
    assert f"hour {window:%Y-%m-%d %H}:00Z api {calls.column('api')[0].as_py()}" in result.output
    assert f"hour {stray.time:%Y-%m-%d %H}:00Z api {stray.api}" in result.output
    assert "(difference -1)" in result.output  # the stray call: one call short of the archive
    assert "reconciliation: 4 differences (defects, not corrected)" in result.output

    # recorded with the run, line by line
    con = duckdb.connect(str(database_path(home)), read_only=True)
    try:
        recorded = con.execute(
            "SELECT kind, tenant_id, subject, expected, actual, difference FROM close_discrepancies"
            " WHERE run_id = (SELECT max(run_id) FROM close_runs) ORDER BY seq").fetchall()
    finally:
        con.close()
    assert len(recorded) == 4
    # the duplicated hour was rated in tier 1 when it streamed; counted twice, the period's
    # F(q) puts those calls in tier 2: the line items no longer add up to F(q) - F(0)
    streamed = next(r for r in recorded if r[0] == "streamed-amount")
    duplicated = calls.column("amount")[0].as_py()
    assert Decimal(streamed[5]) == duplicated - calls.column("quantity")[0].as_py() * Decimal("0.005")
    # nothing is corrected silently: the invoice bills the line items as written (plus
    # late events), and the defect stands in the run record for someone to fix
    with open_documents(home) as store:
        acme = store.find("acme/2026-11")
    assert acme.lines[0].quantity == clean_calls + calls.column("quantity")[0].as_py()
    assert acme.total > acme_total


def test_a_charge_rated_with_another_plan_version_is_reported(
        home: Settings, config: InvoicingConfig) -> None:
    path = home.data_dir / "line_items" / "period=2026-11-01" / "part-0.parquet"
    table = pq.read_table(path)
    versions = pc.if_else(pc.equal(table["tenant_id"], "acme"),
                                  pa.scalar(2, pa.int32()), table["plan_version"])
    table = table.set_column(table.schema.get_field_index("plan_version"), "plan_version", versions)
    pq.write_table(table.cast(LINE_ITEMS), path)
    result = close_period(home, "2026-11", now=DEC_3, config=config)
    plan = [d for d in result.discrepancies if d.kind == "plan"]
    assert {d.subject for d in plan} == {"api_calls", "bandwidth"}
    assert "growth v2" in plan[0].detail and "growth v1" in plan[0].detail


def test_a_stray_transaction_is_reported_in_its_streamed_hour(
        home: Settings, events: list[Event]) -> None:
    # A metric priced per transaction streams one row per tenant and hour (api ''), so an
    # archived payment that names an API is compared with that row, not put beside it.
    paid = next(e for e in events if e.tenant == "hooli" and e.type == "payment" and not e.late
                and e.time >= datetime(2026, 11, 10, tzinfo=UTC))
    stray = replace(paid, key="hooli-stray", api="payments")
    _archive_stray(home, stray)

    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 3, result.output
    reported = _quantity_differences(result.output, "hooli", "payment_value")
    assert len(reported) == 1, result.output
    assert f"hour {stray.time:%Y-%m-%d %H}:00Z api -: line items " in reported[0]
    assert "(1 rows)" in reported[0] and f"(difference -{stray.value})" in reported[0]


def test_transactions_of_a_tenant_whose_plan_does_not_price_them_reconcile_per_tenant(
        home: Settings, catalog: Catalog) -> None:
    # payment_value is priced per transaction by another plan, so the job streams every
    # tenant's payments one row per tenant and hour (api ''), acme's too (rated at zero):
    # the archive is compared with that row, whatever API the payments name.
    at = datetime(2026, 11, 12, 9, 15, tzinfo=UTC)
    paid = [Event(f"acme-pay-{i}", "acme", "payment", at + timedelta(minutes=i), "payments", value="12.50")
            for i in range(3)]
    write_tables(home.data_dir, catalog, paid, part="acme-payments")
    stray = replace(paid[0], key="acme-pay-stray", value="7.25")
    _archive_stray(home, stray)

    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 3, result.output
    reported = _quantity_differences(result.output, "acme", "payment_value")
    assert len(reported) == 1, result.output  # the stray payment, not the hour's archive beside its row
    assert "hour 2026-11-12 09:00Z api -: line items 37.5 (1 rows)" in reported[0]
    assert "(difference -7.25)" in reported[0]
