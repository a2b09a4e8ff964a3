"""Bad input: a clear message, and no invoice written (no partial close)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from aforo.catalog import Catalog, CatalogError
from aforo.settings import Settings
from invoicing import InputError, InvoicingConfig, PeriodError, TenantError, close_period
from invoicing.store import database_path
from tests.invoicing.conftest import DEC_3, invoke
from tests.invoicing.support import Event, late_arrivals, write_late


def documents(settings: Settings) -> int:
    if not database_path(settings).exists():
        return 0
    con = duckdb.connect(str(database_path(settings)), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM invoices").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


@pytest.mark.parametrize(("period", "message"), [
    ("2026-13", "period '2026-13': no such month"),
    ("2026-1", "must be a month written YYYY-MM"),
    ("november", "must be a month written YYYY-MM"),
    ("2025-03", "no plan in force for acme, cyberdyne"),
    ("2027-06", "not started yet"),
    ("2026-05", "period 2026-05: no usage recorded"),
])
def test_an_unknown_period_is_refused(home: Settings, config: InvoicingConfig, period: str,
                                      message: str) -> None:
    with pytest.raises(PeriodError, match=message.replace("(", r"\(")):
        close_period(home, period, now=DEC_3, config=config)
    assert documents(home) == 0


def test_a_period_cannot_be_finalized_before_it_ends(home: Settings,
                                                     config: InvoicingConfig) -> None:
    with pytest.raises(PeriodError, match="cannot be finalized before it ends"):
        close_period(home, "2026-12", finalize=True, now=DEC_3, config=config)
    assert documents(home) == 0


def test_an_unknown_tenant_is_refused(home: Settings, config: InvoicingConfig) -> None:
    with pytest.raises(TenantError, match="tenant 'nobody' is not in the catalog"):
        close_period(home, "2026-11", tenant="nobody", now=DEC_3, config=config)


def test_a_missing_table_is_named_and_nothing_is_written(home: Settings,
                                                         config: InvoicingConfig) -> None:
    shutil.rmtree(home.data_dir / "line_items")
    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 2
    assert "error: table line_items:" in result.output and "does not exist" in result.output
    assert documents(home) == 0
    con = duckdb.connect(str(database_path(home)), read_only=True)
    try:
        assert con.execute("SELECT status, message FROM close_runs").fetchall() == [
            ("failed", result.output.strip().removeprefix("error: "))]
    finally:
        con.close()
    with pytest.raises(InputError):
        close_period(home, "2026-11", now=DEC_3, config=config)


def test_an_unreadable_table_is_named(home: Settings, config: InvoicingConfig) -> None:
    part = home.data_dir / "late_events" / "event_date=2026-11-03" / "part-0.parquet"
    part.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(InputError, match="late_events"):
        close_period(home, "2026-11", now=DEC_3, config=config)
    assert documents(home) == 0


def test_usage_the_prices_cannot_rate_is_named(home: Settings, catalog: Catalog,
                                               events: list[Event]) -> None:
    refund = late_arrivals(events, "hooli", 1, datetime(2026, 11, 9, tzinfo=UTC),
                           datetime(2026, 11, 10, tzinfo=UTC), value="-5.00")
    write_late(home.data_dir, catalog, refund, "refund")
    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 2
    assert result.output.startswith("error: hooli, period from 2026-11-01 00:00Z, charge payment_fees:")
    assert "must not be negative" in result.output
    assert documents(home) == 0


def test_a_catalog_error_is_shown_and_nothing_is_written(home: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "catalog"
    shutil.copytree(home.catalog_dir, broken)
    plan = broken / "plans" / "startup.yaml"
    plan.write_text(plan.read_text().replace("model: package", "model: packaged"))
    settings = home.model_copy(update={"catalog_dir": broken})
    result = invoke(settings, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 2
    assert result.output.startswith("error: plans/startup.yaml: versions[0].charges[0].price.model")
    assert documents(settings) == 0
    with pytest.raises(CatalogError):
        close_period(settings, "2026-11", now=datetime(2026, 12, 3, tzinfo=UTC))


def test_the_cli_refuses_contradicting_options(home: Settings) -> None:
    assert invoke(home, "close", []).exit_code == 2
    assert "give --period YYYY-MM or --due" in invoke(home, "close", []).output
    result = invoke(home, "close", ["--due", "--finalize"])
    assert result.exit_code == 2 and "--due closes every customer" in result.output


@pytest.mark.parametrize(("text", "message"), [
    ("issuers:\n  aforo:\n    logo: nope.png\n", "issuers.aforo.logo: "),
    ("issuers:\n  aforo:\n    locale: xx_YY\n", "issuers.aforo.locale: "),
    ("templates_dir: invoice-templtes\n", "templates_dir: no such folder "),
])
def test_a_bad_white_label_setting_is_named_before_anything_is_written(
        home: Settings, tmp_path: Path, text: str, message: str) -> None:
    settings_file = tmp_path / "invoicing.yaml"
    settings_file.write_text(text)
    for args in (["close", "--period", "2026-11", "--now", DEC_3.isoformat()],
                 ["invoices", "render", "acme/2026-11"]):
        result = invoke(home, args[0], [*args[1:], "--invoicing-config", str(settings_file)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: {settings_file}: {message}")
    assert documents(home) == 0
