"""The billing database: <home>/billing.duckdb, behind a file lock.

One writer at a time: a close takes an exclusive `flock` on billing.duckdb.lock
for its whole run (DuckDB's own file lock is the second guard), so two closes
never both finalize; the second waits, then finds the documents final. Readers
(`aforo sql`, `aforo invoices`) take the lock shared and read a snapshot.

Final documents are never updated or deleted: every write is guarded by
`status = 'draft'`. Numbers are taken in the same transaction as the
finalization, so a failed close leaves no gap.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from aforo.pricing import BreakdownLine, format_decimal, round_money
from aforo.settings import Settings
from invoicing.documents import (
    CREDIT_NOTE,
    Adjusts,
    Invoice,
    InvoiceLine,
    breakdown_dict,
)
from invoicing.errors import CloseBusy, InvoiceNotFound, PeriodError
from invoicing.sqlfiles import load_sql

TABLES = ("invoices", "invoice_lines", "invoice_sequences", "close_runs",
          "close_discrepancies", "adjustment_checks")


def database_path(settings: Settings) -> Path:
    return settings.home / "billing.duckdb"


@contextmanager
def _flock(path: Path, exclusive: bool, timeout_s: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CloseBusy(
                        f"{path}: another close holds the billing database"
                        f" (waited {timeout_s:g}s); run again when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@dataclass(frozen=True, slots=True)
class Numbered:
    invoice_id: str
    number: str


class BillingStore:
    """A connection to the billing database, holding its lock."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @classmethod
    @contextmanager
    def open(cls, settings: Settings, *, write: bool, timeout_s: float = 600.0
             ) -> Iterator[BillingStore]:
        """The store, locked for writing (exclusive) or reading (shared). A read of a
        database that does not exist yet sees empty tables."""
        path = database_path(settings)
        with _flock(path.with_name(path.name + ".lock"), write, timeout_s):
            if write or path.exists():
                try:
                    con = duckdb.connect(str(path), read_only=not write)
                except duckdb.IOException as exc:
                    raise CloseBusy(f"{path}: {exc}") from exc
            else:
                con = duckdb.connect()
            try:
                con.execute("SET TimeZone = 'UTC'")
                if write or not path.exists():
                    con.execute(load_sql("invoice_schema"))
                yield cls(con)
            finally:
                con.close()

    # ------------------------------------------------------------------ reading

    def documents(self, *, tenant: str | None = None, label: str | None = None,
                  status: str | None = None, ids: Sequence[str] | None = None,
                  reference: str | None = None, since: datetime | None = None,
                  before: datetime | None = None, lines: bool = True) -> list[Invoice]:
        """Documents matching every filter given (`label` matches the period or the
        close that made it); `lines=False` leaves their lines out (headers only)."""
        params = {"tenant": tenant, "label": label, "status": status,
                  "ids": list(ids) if ids is not None else None, "reference": reference,
                  "since": since, "before": before}
        cur = self.con.execute(load_sql("invoice_select"), params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        if not rows:
            return []
        by_doc = self._lines([r["invoice_id"] for r in rows]) if lines else {}
        return [_invoice(r, tuple(by_doc.get(r["invoice_id"], ()))) for r in rows]

    def find(self, reference: str) -> Invoice:
        """A document by number (INV-2026-0042) or id (acme/2026-11)."""
        found = self.documents(reference=reference)
        if not found:
            raise InvoiceNotFound(f"no invoice or credit note {reference!r}"
                                  " (give a number like INV-2026-0001 or an id like acme/2026-11)")
        return found[0]

    def _lines(self, ids: list[str]) -> dict[str, list[InvoiceLine]]:
        return _group_lines(self.con.execute(load_sql("invoice_lines_select"), {"ids": ids}))

    def prior_adjustments(self, ids: Sequence[str]) -> dict[str, list[InvoiceLine]]:
        """Adjustment lines on final documents, by the invoice they adjust."""
        if not ids:
            return {}
        by_doc = _group_lines(
            self.con.execute(load_sql("invoice_adjustments_select"), {"ids": list(ids)}))
        out: dict[str, list[InvoiceLine]] = {}
        for doc_lines in by_doc.values():
            for line in doc_lines:
                assert line.adjusts is not None
                out.setdefault(line.adjusts.invoice_id, []).append(line)
        return out

    def checks(self) -> dict[str, str]:
        """Fingerprints of the inputs each earlier invoice was last checked against."""
        return dict(self.con.execute(
            "SELECT invoice_id, fingerprint FROM adjustment_checks").fetchall())

    def next_run_id(self) -> int:
        row = self.con.execute("SELECT COALESCE(max(run_id), 0) + 1 FROM close_runs").fetchone()
        assert row is not None
        return int(row[0])

    # ------------------------------------------------------------------ writing

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    def write_drafts(self, drafts: Sequence[Invoice], run_id: int) -> None:
        """Replace these drafts (a final document of the same id is left alone)."""
        self.delete_drafts([d.invoice_id for d in drafts])
        if not drafts:
            return
        self.con.register("new_invoices", _invoice_rows(drafts, run_id))
        self.con.register("new_lines", _line_rows(drafts))
        try:
            self.con.execute("INSERT INTO invoices BY NAME SELECT * FROM new_invoices")
            self.con.execute("INSERT INTO invoice_lines BY NAME SELECT * FROM new_lines")
        finally:
            self.con.unregister("new_invoices")
            self.con.unregister("new_lines")

    def delete_drafts(self, ids: Sequence[str]) -> None:
        if ids:
            self.con.execute(load_sql("invoice_delete_draft_lines"), {"ids": list(ids)})
            self.con.execute(load_sql("invoice_delete_drafts"), {"ids": list(ids)})

    def finalize(self, drafts: Sequence[Invoice], prefixes: dict[tuple[str, str], str],
                 due_days: dict[str, int], now: datetime, run_id: int) -> list[Numbered]:
        """Number the drafts (ordered by issuer, kind, tenant, id) and make them final.

        `prefixes[(issuer, kind)]` is the number prefix; the year is the issue
        date's. Must run inside `transaction()`."""
        issue = now.astimezone(UTC).date()
        last = self.con.execute(load_sql("invoice_last_issued")).fetchone() if drafts else None
        if last is not None and last[1] > issue:
            raise PeriodError(
                f"issue date {issue} is before {last[1]}, the issue date of {last[0]}: numbers"
                " follow issue dates, so nothing can be finalized as of an earlier day (--now)")
        ordered = sorted(drafts, key=lambda d: (d.issuer, d.kind, d.tenant_id, d.invoice_id))
        groups: dict[tuple[str, str], list[Invoice]] = {}
        for draft in ordered:
            groups.setdefault((draft.issuer, draft.kind), []).append(draft)
        numbered: list[Numbered] = []
        for (issuer, kind), docs in groups.items():
            prefix = prefixes[(issuer, kind)]
            row = self.con.execute(load_sql("invoice_next_number"), {
                "prefix": prefix, "year": issue.year, "issuer": issuer, "count": len(docs),
            }).fetchone()
            assert row is not None
            first = int(row[0]) - len(docs) + 1
            numbered += [Numbered(d.invoice_id, f"{prefix}-{issue.year}-{first + i:04d}")
                         for i, d in enumerate(docs)]
        if not numbered:
            return []
        # A credit note has nothing to pay, so it has no due date.
        due = {d.invoice_id: None if d.kind == CREDIT_NOTE else issue + timedelta(days=due_days[d.issuer])
               for d in ordered}
        self.con.register("finalizing", pa.table({
            "invoice_id": [n.invoice_id for n in numbered],
            "number": [n.number for n in numbered],
            "issue_date": pa.array([issue] * len(numbered), pa.date32()),
            "due_date": pa.array([due[n.invoice_id] for n in numbered], pa.date32()),
            "finalized_at": pa.array([now] * len(numbered), pa.timestamp("us", tz="UTC")),
            "close_run": pa.array([run_id] * len(numbered), pa.int64()),
        }))
        try:
            self.con.execute(load_sql("invoice_finalize"))
        finally:
            self.con.unregister("finalizing")
        return numbered

    def record_checks(self, fingerprints: dict[str, str], run_id: int) -> None:
        if not fingerprints:
            return
        self.con.register("new_checks", pa.table({
            "invoice_id": list(fingerprints), "fingerprint": list(fingerprints.values()),
            "run_id": pa.array([run_id] * len(fingerprints), pa.int64()),
        }))
        try:
            self.con.execute("INSERT OR REPLACE INTO adjustment_checks SELECT * FROM new_checks")
        finally:
            self.con.unregister("new_checks")

    def record_run(self, run: dict[str, Any], discrepancies: Sequence[dict[str, Any]]) -> None:
        self.con.register("new_run", pa.Table.from_pylist([run]))
        try:
            self.con.execute("INSERT INTO close_runs BY NAME SELECT * FROM new_run")
        finally:
            self.con.unregister("new_run")
        if discrepancies:
            self.con.register("new_discrepancies", pa.Table.from_pylist(list(discrepancies)))
            try:
                self.con.execute(
                    "INSERT INTO close_discrepancies BY NAME SELECT * FROM new_discrepancies")
            finally:
                self.con.unregister("new_discrepancies")

    def snapshot(self, table: str) -> pa.Table:
        """A whole table, for `aforo sql`."""
        if table not in TABLES:
            raise ValueError(table)
        return self.con.table(table).to_arrow_table()


# ---------------------------------------------------------------------- rows


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _money(value: object, currency: str) -> Decimal:
    """A DECIMAL(38, 4) column back at its currency's minor unit (4.2300 -> 4.23)."""
    return round_money(value if isinstance(value, Decimal) else Decimal(str(value)), currency)


def _invoice(row: dict[str, Any], lines: tuple[InvoiceLine, ...]) -> Invoice:
    start, end = _utc(row["period_start"]), _utc(row["period_end"])
    assert start is not None and end is not None
    cur = row["currency"]
    return Invoice(
        invoice_id=row["invoice_id"], kind=row["kind"], status=row["status"],
        number=row["number"], issuer=row["issuer"], tenant_id=row["tenant_id"],
        period_label=row["period_label"], period_start=start, period_end=end,
        currency=row["currency"], lines=lines, tax_rate=Decimal(row["tax_rate"]),
        subtotal=_money(row["subtotal"], cur), tax=_money(row["tax"], cur),
        total=_money(row["total"], cur), customer=json.loads(row["customer"]),
        issuer_details=json.loads(row["issuer_details"]),
        catalog_revision=row["catalog_revision"], close_label=row["close_label"],
        credits_invoice_id=row["credits_invoice_id"], credits_number=row["credits_number"],
        # Credit notes finalized before they stopped getting a due date keep it in their
        # row (a final row is never rewritten); it is not theirs to show.
        issue_date=row["issue_date"], due_date=None if row["kind"] == CREDIT_NOTE else row["due_date"],
        drafted_at=_utc(row["drafted_at"]), finalized_at=_utc(row["finalized_at"]),
        content_hash=row["content_hash"],
    )


def _group_lines(cur: duckdb.DuckDBPyConnection) -> dict[str, list[InvoiceLine]]:
    names = [d[0] for d in cur.description]
    out: dict[str, list[InvoiceLine]] = {}
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        currency = row["currency"]
        adjusts = None
        if row["adjusts_invoice_id"] is not None:
            adjusts = Adjusts(row["adjusts_invoice_id"], row["adjusts_number"],
                              row["adjusts_period_label"], Decimal(row["previous_quantity"]),
                              _money(row["previous_amount"], currency))
        breakdown = tuple(
            BreakdownLine(b["key"], b["description"], Decimal(b["quantity"]),
                          Decimal(b["unit_amount"]), Decimal(b["amount"]))
            for b in json.loads(row["breakdown"])
        )
        out.setdefault(row["invoice_id"], []).append(InvoiceLine(
            line_no=row["line_no"], kind=row["kind"], charge_key=row["charge_key"],
            description=row["description"], metric=row["metric"], unit=row["unit"],
            quantity=Decimal(row["quantity"]), price_model=row["price_model"],
            plan_key=row["plan_key"], plan_version=row["plan_version"], price=row["price"],
            amount_exact=Decimal(row["amount_exact"]), amount=_money(row["amount"], currency),
            breakdown=breakdown, adjusts=adjusts,
        ))
    return out


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_MONEY = pa.decimal128(38, 4)
_TS = pa.timestamp("us", tz="UTC")


def _invoice_rows(docs: Iterable[Invoice], run_id: int) -> pa.Table:
    rows = [{
        "invoice_id": d.invoice_id, "kind": d.kind, "status": d.status, "number": d.number,
        "issuer": d.issuer, "tenant_id": d.tenant_id, "period_label": d.period_label,
        "period_start": d.period_start, "period_end": d.period_end, "currency": d.currency,
        "subtotal": d.subtotal, "tax_rate": format_decimal(d.tax_rate), "tax": d.tax, "total": d.total,
        "issue_date": d.issue_date, "due_date": d.due_date,
        "credits_invoice_id": d.credits_invoice_id, "credits_number": d.credits_number,
        "customer": _dump(d.customer), "issuer_details": _dump(d.issuer_details),
        "catalog_revision": d.catalog_revision, "close_label": d.close_label,
        "content_hash": d.content_hash, "drafted_at": d.drafted_at,
        "finalized_at": d.finalized_at, "close_run": run_id,
    } for d in docs]
    schema = pa.schema([
        ("invoice_id", pa.string()), ("kind", pa.string()), ("status", pa.string()),
        ("number", pa.string()), ("issuer", pa.string()), ("tenant_id", pa.string()),
        ("period_label", pa.string()), ("period_start", _TS), ("period_end", _TS),
        ("currency", pa.string()), ("subtotal", _MONEY), ("tax_rate", pa.string()),
        ("tax", _MONEY), ("total", _MONEY), ("issue_date", pa.date32()),
        ("due_date", pa.date32()), ("credits_invoice_id", pa.string()),
        ("credits_number", pa.string()), ("customer", pa.string()),
        ("issuer_details", pa.string()), ("catalog_revision", pa.string()),
        ("close_label", pa.string()), ("content_hash", pa.string()), ("drafted_at", _TS),
        ("finalized_at", _TS), ("close_run", pa.int64()),
    ])
    return pa.Table.from_pylist(rows, schema)


def _line_rows(docs: Iterable[Invoice]) -> pa.Table:
    rows = []
    for d in docs:
        for line in d.lines:
            a = line.adjusts
            rows.append({
                "invoice_id": d.invoice_id, "line_no": line.line_no, "kind": line.kind,
                "charge_key": line.charge_key, "description": line.description,
                "metric": line.metric, "unit": line.unit, "quantity": format_decimal(line.quantity),
                "price_model": line.price_model, "plan_key": line.plan_key,
                "plan_version": line.plan_version, "price": line.price,
                "amount_exact": format_decimal(line.amount_exact), "amount": line.amount,
                "breakdown": _dump([breakdown_dict(b) for b in line.breakdown]),
                "adjusts_invoice_id": a.invoice_id if a else None,
                "adjusts_number": a.number if a else None,
                "adjusts_period_label": a.period_label if a else None,
                "previous_quantity": format_decimal(a.previous_quantity) if a else None,
                "previous_amount": a.previous_amount if a else None,
            })
    schema = pa.schema([
        ("invoice_id", pa.string()), ("line_no", pa.int32()), ("kind", pa.string()),
        ("charge_key", pa.string()), ("description", pa.string()), ("metric", pa.string()),
        ("unit", pa.string()), ("quantity", pa.string()), ("price_model", pa.string()),
        ("plan_key", pa.string()), ("plan_version", pa.int32()), ("price", pa.string()),
        ("amount_exact", pa.string()), ("amount", _MONEY), ("breakdown", pa.string()),
        ("adjusts_invoice_id", pa.string()), ("adjusts_number", pa.string()),
        ("adjusts_period_label", pa.string()), ("previous_quantity", pa.string()),
        ("previous_amount", _MONEY),
    ])
    return pa.Table.from_pylist(rows, schema)

