"""`aforo close`, `aforo invoices` and `aforo sql`: thin layers over `invoicing`
and `aforo.query`."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import duckdb

from aforo.catalog import load_catalog
from aforo.pricing import format_decimal, round_money
from aforo.query import DeadLettersUnreadable, run_query
from aforo.settings import ConfigError
from invoicing import (
    FORMATS,
    CloseResult,
    Invoice,
    InvoicingError,
    Renderer,
    close_due,
    close_period,
    load_invoicing_config,
    open_documents,
)
from invoicing.metric_sql import explain
from invoicing.periods import PeriodLabel

EXIT_DIFFERENCES = 3  # the close ran, and reconciliation found differences
EXIT_BUSY = 75  # another close holds the billing database (EX_TEMPFAIL): retry


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--now") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@contextmanager
def _errors() -> Iterator[None]:
    """An invoicing or catalog error is one line on stderr and exit 2 (75 when a retry
    can help); nothing was written."""
    try:
        yield
    except InvoicingError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BUSY if exc.retryable else 2)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None or currency is None:
        return "-"
    return f"{currency} {round_money(amount, currency):,}"


def _grouped(value: Decimal) -> str:
    return f"{value:,f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- close


def _print_result(result: CloseResult) -> None:
    who = result.tenant or f"{len({o.tenant_id for o in result.outcomes})} customers"
    mode = "finalize" if result.finalize else "draft"
    click.echo(f"close {result.label} ({mode}): run {result.run_id}, catalog"
               f" {result.catalog_revision}, {who}")
    rows = []
    for o in result.outcomes:
        period = (f"{o.period.start:%Y-%m-%d %H:%M} .. {o.period.end:%Y-%m-%d %H:%M}"
                  if o.period else "")
        rows.append((o.tenant_id, period, o.number or o.invoice_id or "-", o.status, o.action,
                     _money(o.total, o.currency),
                     "-" if o.streamed is None else format_decimal(o.streamed), o.note))
    if rows:
        _table(("tenant", "period (UTC)", "document", "status", "action", "total",
                "streamed", "note"), rows)
    for note in result.notes:
        click.echo(f"note: {note}")
    counts = ", ".join(f"{result.count(a)} {a}" for a in
                       ("created", "updated", "unchanged", "finalized", "final", "deleted")
                       if result.count(a))
    click.echo(f"documents: {counts or 'none'}")
    if not result.discrepancies:
        click.echo("reconciliation: streamed charges and archive agree with the close")
        return
    click.echo(f"reconciliation: {len(result.discrepancies)} differences (defects, not corrected):")
    for d in result.discrepancies:
        diff = "" if d.difference is None else f" (difference {format_decimal(d.difference)})"
        click.echo(f"  [{d.kind}] {d.tenant_id} {d.subject}: {d.detail}{diff}")


def _result_json(result: CloseResult) -> dict[str, Any]:
    def text(v: Decimal | None) -> str | None:
        return None if v is None else format_decimal(v)

    return {
        "run_id": result.run_id, "period": result.label, "tenant": result.tenant,
        "finalize": result.finalize, "catalog_revision": result.catalog_revision,
        "documents": [{
            "tenant_id": o.tenant_id, "invoice_id": o.invoice_id, "kind": o.kind,
            "status": o.status, "action": o.action, "number": o.number,
            "period_start": o.period.start.isoformat() if o.period else None,
            "period_end": o.period.end.isoformat() if o.period else None,
            "currency": o.currency, "total": text(o.total), "streamed": text(o.streamed),
            "note": o.note,
        } for o in result.outcomes],
        "discrepancies": [{k: (v.isoformat() if isinstance(v, datetime) else v)
                           for k, v in d.row(result.run_id, i).items()
                           if k not in ("run_id", "seq")}
                          for i, d in enumerate(result.discrepancies, 1)],
        "notes": list(result.notes),
    }


@click.command()
@click.option("--period", help="The month to close, YYYY-MM: each customer's period that"
              " starts on that month's anchor day.")
@click.option("--tenant", help="Close one customer only.")
@click.option("--finalize", is_flag=True, help="Make the drafts final: numbered, immutable"
              " (only periods that have ended).")
@click.option("--due", is_flag=True, help="Close every ended period that is not final;"
              " finalize those whose grace period has passed (for cron, hourly).")
@click.option("--allow-empty", is_flag=True, help="Invoice a period without any usage.")
@click.option("--now", "now_text", metavar="TIME", help="Take this instant as now (ISO 8601):"
              " replays and backfills.")
@click.option("--invoicing-config", type=click.Path(path_type=Path), envvar="AFORO_INVOICING_CONFIG",
              help="Issuers, grace period, templates (default: embedded).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--show-sql", is_flag=True, help="Print the SQL generated from the catalog and exit.")
@click.pass_obj
def close(obj, period: str | None, tenant: str | None, finalize: bool, due: bool,  # type: ignore[no-untyped-def]
          allow_empty: bool, now_text: str | None, invoicing_config: Path | None, as_json: bool,
          show_sql: bool) -> None:
    """Close billing periods: rate each customer's period as a whole, reconcile it with
    the streamed line items, and write draft (or final) invoices.

    Exit 0; 3 when reconciliation found differences; 2 on bad input (nothing written);
    75 when another close holds the billing database.
    """
    settings = obj.get()
    if show_sql:
        with _errors():
            metrics = load_catalog(settings.catalog_dir).metrics
        click.echo(explain(metrics), nl=False)
        return
    if due == bool(period):
        raise click.UsageError("give --period YYYY-MM or --due")
    if due and (tenant or finalize or allow_empty):
        raise click.UsageError("--due closes every customer and decides finalization itself")
    now = _instant(now_text)
    with _errors():
        config = load_invoicing_config(invoicing_config)
        if due:
            results = close_due(settings, now=now, config=config)
        else:
            assert period is not None
            results = [close_period(settings, period, tenant=tenant, finalize=finalize, now=now,
                                    config=config, allow_empty=allow_empty)]
    if as_json:
        click.echo(json.dumps([_result_json(r) for r in results], indent=1))
    else:
        if not results:
            click.echo("nothing due: every ended period is final")
        for result in results:
            _print_result(result)
    if any(r.discrepancies for r in results):
        sys.exit(EXIT_DIFFERENCES)


# ---------------------------------------------------------------- invoices


@click.group()
def invoices() -> None:
    """Look at invoices and credit notes, and render them."""


@invoices.command("list")
@click.option("--period", help="Only this billing period (YYYY-MM).")
@click.option("--tenant")
@click.option("--status", type=click.Choice(["draft", "final"]))
@click.pass_obj
def list_(obj, period: str | None, tenant: str | None, status: str | None) -> None:  # type: ignore[no-untyped-def]
    """One row per document."""
    with _errors():
        label = None if period is None else str(PeriodLabel.parse(period))
        with open_documents(obj.get()) as store:
            docs = store.documents(label=label, tenant=tenant, status=status, lines=False)
    docs = [d for d in docs if label is None or d.period_label == label]
    _table(("number", "id", "kind", "status", "tenant", "period", "total", "issued", "due"), [
        (d.number or "-", d.invoice_id, d.kind, d.status, d.tenant_id, d.period_label,
         _money(d.total, d.currency), d.issue_date or "-", d.due_date or "-") for d in docs])


def _show(inv: Invoice) -> None:
    title = "Credit note" if inv.kind == "credit_note" else "Invoice"
    click.echo(f"{title} {inv.number or '(draft)'}  [{inv.status}]  id {inv.invoice_id}")
    click.echo(f"  customer  {inv.customer['name']} ({inv.tenant_id})")
    click.echo(f"  period    {inv.period_label}: {inv.period_start:%Y-%m-%d %H:%M} .."
               f" {inv.period_end:%Y-%m-%d %H:%M} UTC")
    click.echo(f"  issued    {inv.issue_date or '-'}   due {inv.due_date or '-'}")
    if inv.credits_number:
        click.echo(f"  credits   {inv.credits_number}")
    for line in inv.lines:
        what = f"{_grouped(line.quantity)} {line.unit}" if line.metric else "1"
        click.echo(f"  {line.line_no:>2}. {line.description:<44} {what:>24}"
                   f" {_money(line.amount, inv.currency):>16}")
        if line.adjusts:
            click.echo(f"      adjusts {line.adjusts.number} ({line.adjusts.period_label}):"
                       f" previously {_grouped(line.adjusts.previous_quantity)} {line.unit},"
                       f" {_money(line.adjusts.previous_amount, inv.currency)}")
        for part in line.breakdown:
            click.echo(f"        {part.description:<52} {format_decimal(part.amount):>24}")
        if line.amount_exact != line.amount:
            click.echo(f"        {'exact':<52} {format_decimal(line.amount_exact):>24}")
    click.echo(f"  {'subtotal':>72} {_money(inv.subtotal, inv.currency):>16}")
    click.echo(f"  {'tax ' + format_decimal(inv.tax_rate) + '%':>72} {_money(inv.tax, inv.currency):>16}")
    click.echo(f"  {'total':>72} {_money(inv.total, inv.currency):>16}")


@invoices.command()
@click.argument("reference")
@click.pass_obj
def show(obj, reference: str) -> None:  # type: ignore[no-untyped-def]
    """One document, by number (INV-2026-0001) or id (acme/2026-11)."""
    with _errors(), open_documents(obj.get()) as store:
        _show(store.find(reference))


@invoices.command()
@click.argument("reference")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write here (default: stdout).")
@click.option("--invoicing-config", type=click.Path(path_type=Path), envvar="AFORO_INVOICING_CONFIG")
@click.pass_obj
def render(obj, reference: str, fmt: str, out: Path | None,  # type: ignore[no-untyped-def]
           invoicing_config: Path | None) -> None:
    """Render a document as HTML, PDF, JSON or CSV."""
    with _errors():
        renderer = Renderer(load_invoicing_config(invoicing_config))
        with open_documents(obj.get()) as store:
            inv = store.find(reference)
        data = renderer.render(inv, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        except OSError as exc:
            click.echo(f"error: --out {out}: {exc.strerror or exc}", err=True)
            sys.exit(2)
        click.echo(f"{out}: {len(data):,} bytes ({fmt}, {inv.reference})", err=True)


# ---------------------------------------------------------------- sql


@click.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.pass_obj
def sql(obj, query: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """Run one DuckDB SQL query over the views events, line_items, late_events,
    invoices, invoice_lines, close_runs, close_discrepancies and dead_letters.

    One statement, one result: an empty query or several statements (separated
    by ';') are refused with exit 2; run each separately. A query of
    dead_letters while Kafka cannot be read fails with exit 1.
    """
    with _errors():
        try:
            result = run_query(obj.get(), query)
        except duckdb.Error as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except DeadLettersUnreadable as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    elif fmt == "json":
        for row in result.rows:
            click.echo(json.dumps(dict(zip(result.columns, row, strict=True)), default=_jsonable))
    else:
        _table(result.columns, result.rows)
        click.echo(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})")


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


commands = [close, invoices, sql]
