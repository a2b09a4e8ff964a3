"""Invoices and credit notes: frozen values, their totals, and their JSON form.

An invoice line is one charge of the plan (or one adjustment of an earlier
period's charge). It keeps the pricing library's breakdown lines as they came,
exact, and the line's amount exact and rounded once with `round_money`. The
subtotal is the sum of the rounded lines; tax is the customer's rate on that
subtotal, rounded once; the total is their sum.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any

from aforo.pricing import BreakdownLine, format_decimal, round_money
from aforo.pricing.numbers import CONTEXT

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
DRAFT = "draft"
FINAL = "final"
CHARGE = "charge"
ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class Adjusts:
    """What an adjustment line corrects: a charge of an earlier, final invoice."""

    invoice_id: str
    number: str
    period_label: str
    previous_quantity: Decimal
    previous_amount: Decimal  # rounded, as billed so far (the invoice and earlier adjustments)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_no: int
    kind: str
    charge_key: str
    description: str
    metric: str | None
    unit: str
    quantity: Decimal
    price_model: str
    plan_key: str
    plan_version: int
    price: str  # the price as JSON (`Price.to_dict()`), kept to re-rate late usage
    amount_exact: Decimal
    amount: Decimal
    breakdown: tuple[BreakdownLine, ...]
    adjusts: Adjusts | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def totals(lines: tuple[InvoiceLine, ...], tax_rate: Decimal, currency: str) -> Totals:
    """Subtotal of the rounded lines; tax on it at `tax_rate` percent, rounded once."""
    with localcontext(CONTEXT):
        subtotal = sum((line.amount for line in lines), Decimal(0))
        tax = round_money(subtotal * tax_rate / 100, currency)
        return Totals(subtotal, tax, subtotal + tax)


@dataclass(frozen=True)
class Invoice:
    """An invoice (or a credit note for an earlier invoice: `credits_invoice_id`)."""

    invoice_id: str
    kind: str
    status: str
    number: str | None
    issuer: str
    tenant_id: str
    period_label: str
    period_start: datetime
    period_end: datetime
    currency: str
    lines: tuple[InvoiceLine, ...]
    tax_rate: Decimal
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    customer: dict[str, str]
    issuer_details: dict[str, str]
    catalog_revision: str
    close_label: str
    credits_invoice_id: str | None = None
    credits_number: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    drafted_at: datetime | None = None
    finalized_at: datetime | None = None
    content_hash: str = field(default="", compare=False)

    @property
    def is_final(self) -> bool:
        return self.status == FINAL

    @property
    def reference(self) -> str:
        """The number of a final document, else its id."""
        return self.number or self.invoice_id

    def hashed(self) -> Invoice:
        return replace(self, content_hash=content_hash(self))


def money_text(value: Decimal, currency: str) -> str:
    """A rounded amount with the currency's minor digits (`286.00`, `1500` for JPY)."""
    return f"{round_money(value, currency):f}"


def breakdown_dict(line: BreakdownLine) -> dict[str, str]:
    return {
        "key": line.key, "description": line.description,
        "quantity": format_decimal(line.quantity),
        "unit_amount": format_decimal(line.unit_amount),
        "amount": format_decimal(line.amount),
    }


def line_dict(line: InvoiceLine, currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "line_no": line.line_no, "kind": line.kind, "charge_key": line.charge_key,
        "description": line.description, "metric": line.metric, "unit": line.unit,
        "quantity": format_decimal(line.quantity),
        "price_model": line.price_model, "plan_key": line.plan_key,
        "plan_version": line.plan_version, "price": json.loads(line.price),
        "amount_exact": format_decimal(line.amount_exact),
        "amount": money_text(line.amount, currency),
        "breakdown": [breakdown_dict(b) for b in line.breakdown],
        "adjusts": None,
    }
    if line.adjusts is not None:
        a = line.adjusts
        out["adjusts"] = {
            "invoice_id": a.invoice_id, "number": a.number, "period": a.period_label,
            "previous_quantity": format_decimal(a.previous_quantity),
            "previous_amount": money_text(a.previous_amount, currency),
        }
    return out


def _content(inv: Invoice) -> dict[str, Any]:
    """What the document says, without what finalization adds (status, number, dates)."""
    return {
        "invoice_id": inv.invoice_id, "kind": inv.kind, "issuer": inv.issuer,
        "tenant_id": inv.tenant_id, "period": inv.period_label,
        "period_start": inv.period_start.isoformat(), "period_end": inv.period_end.isoformat(),
        "currency": inv.currency, "lines": [line_dict(x, inv.currency) for x in inv.lines],
        "tax_rate": format_decimal(inv.tax_rate),
        "subtotal": money_text(inv.subtotal, inv.currency),
        "tax": money_text(inv.tax, inv.currency), "total": money_text(inv.total, inv.currency),
        "customer": inv.customer, "issuer_details": inv.issuer_details,
        "catalog_revision": inv.catalog_revision, "close_label": inv.close_label,
        "credits_invoice_id": inv.credits_invoice_id, "credits_number": inv.credits_number,
    }


def content_hash(inv: Invoice) -> str:
    text = json.dumps(_content(inv), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def to_dict(inv: Invoice) -> dict[str, Any]:
    """The document for accounting systems: decimals as strings, stable key order."""
    content = _content(inv)
    return {
        "number": inv.number, "status": inv.status, "kind": inv.kind,
        "invoice_id": inv.invoice_id,
        "issue_date": inv.issue_date.isoformat() if inv.issue_date else None,
        "due_date": inv.due_date.isoformat() if inv.due_date else None,
        "finalized_at": inv.finalized_at.isoformat() if inv.finalized_at else None,
        **{k: v for k, v in content.items() if k != "invoice_id"},
    }


def to_json(inv: Invoice) -> bytes:
    return (json.dumps(to_dict(inv), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
