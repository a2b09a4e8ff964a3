"""Invoices as people and accounting systems read them: HTML, PDF, JSON, CSV.

HTML comes from Jinja2 templates with autoescaping on, so a customer's name is
always text, never markup. Templates are looked up first in
`<templates_dir>/<issuer>/`, then in `<templates_dir>/`, then here: an issuer
overrides `invoice.html.j2` (the page) or `invoice.css.j2` (its style) by
putting a file of that name in its folder (white-label: logo, colours, address
come from the issuer's settings). A template gets:

    invoice   the document (invoicing.documents.Invoice)
    issuer    its issuer snapshot (name, address, email, tax_id, payment_instructions)
    brand     logo (a data: URI or ""), colours (primary, accent, text)
    title     "Invoice" or "Credit note"
    helpers   money(amount[, currency]), number(decimal), exact(decimal), day(date),
              units(quantity, unit)

The PDF is the same HTML printed by WeasyPrint. JSON and CSV carry every
decimal as text, exactly.
"""

from __future__ import annotations

import base64
import csv
import io
import mimetypes
import traceback
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

import jinja2
from babel import Locale
from babel.numbers import format_currency, format_decimal

from aforo.pricing import format_decimal as plain
from invoicing.config import InvoicingConfig, Issuer
from invoicing.documents import CREDIT_NOTE, Invoice, money_text, to_json
from invoicing.errors import RenderError

TEMPLATES = Path(__file__).with_name("templates")
FORMATS = ("html", "pdf", "json", "csv")


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _environment(templates_dir: Path | None, issuer: str) -> jinja2.Environment:
    paths = [str(templates_dir / issuer), str(templates_dir)] if templates_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*paths, str(TEMPLATES)]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    return env


def _logo(config: InvoicingConfig, issuer: Issuer) -> str:
    if not issuer.logo:
        return ""
    path = config.logo_path(issuer)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _where(exc: jinja2.TemplateError) -> str:
    """The template file and line a template error comes from."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}, line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    return f"{frames[-1].filename}, line {frames[-1].lineno}" if frames else "invoice.html.j2"


def units(quantity: Decimal, unit: str) -> str:
    """`call` -> `calls` for quantities other than 1; codes (USD, ms, GB) stay."""
    if quantity == 1 or len(unit) <= 2 or not (unit.isalpha() and unit.islower()) \
            or unit.endswith("s"):
        return unit
    return unit + "s"


class Renderer:
    """Renders documents with one configuration's templates and branding."""

    def __init__(self, config: InvoicingConfig) -> None:
        self.config = config
        self._brands: dict[str, dict[str, object]] = {}

    def _brand(self, key: str) -> tuple[Issuer, dict[str, object]]:
        issuer = self.config.issuers.get(key) or Issuer()
        if key not in self._brands:
            self._brands[key] = {"logo": _logo(self.config, issuer),
                                 "colours": issuer.colours.model_dump()}
        return issuer, self._brands[key]

    def html(self, invoice: Invoice) -> str:
        issuer, brand = self._brand(invoice.issuer)
        locale = _locale(issuer.locale)
        env = _environment(self.config.templates_dir, invoice.issuer)
        try:
            return self._html(env, invoice, brand, locale)
        except jinja2.TemplateError as exc:
            raise RenderError(f"{invoice.reference}: template {_where(exc)}: {exc}") from exc

    def _html(self, env: jinja2.Environment, invoice: Invoice, brand: dict[str, object],
              locale: Locale) -> str:
        template = env.get_template("invoice.html.j2")

        def money(amount: Decimal, currency: str | None = None) -> str:
            return format_currency(amount, currency or invoice.currency, locale=locale)

        def number(value: Decimal) -> str:
            return format_decimal(value, locale=locale, decimal_quantization=False)

        def day(value: date | None) -> str:
            return value.strftime("%d %b %Y").lstrip("0") if value else "on finalization"

        return template.render(
            invoice=invoice, issuer=invoice.issuer_details, brand=brand,
            title="Credit note" if invoice.kind == CREDIT_NOTE else "Invoice",
            money=money, number=number, day=day, exact=plain, units=units,
        )

    def pdf(self, invoice: Invoice) -> bytes:
        import weasyprint  # imported late: it loads Pango, and only PDFs need it

        return weasyprint.HTML(string=self.html(invoice)).write_pdf()

    def render(self, invoice: Invoice, fmt: str) -> bytes:
        if fmt == "html":
            return self.html(invoice).encode()
        if fmt == "pdf":
            return self.pdf(invoice)
        if fmt == "json":
            return to_json(invoice)
        if fmt == "csv":
            return to_csv([invoice])
        raise ValueError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")


CSV_COLUMNS = (
    "number", "kind", "status", "issue_date", "due_date", "tenant_id", "customer_name",
    "period", "period_start", "period_end", "currency", "line_no", "line_kind", "charge_key",
    "description", "quantity", "unit", "amount_exact", "amount", "adjusts_number",
    "tax_rate", "subtotal", "tax", "total",
)


def csv_rows(invoices: Iterable[Invoice]) -> Iterable[dict[str, str]]:
    """One row per line (a document without lines: one row), totals repeated."""
    for inv in invoices:
        head = {
            "number": inv.number or "", "kind": inv.kind, "status": inv.status,
            "issue_date": inv.issue_date.isoformat() if inv.issue_date else "",
            "due_date": inv.due_date.isoformat() if inv.due_date else "",
            "tenant_id": inv.tenant_id, "customer_name": inv.customer.get("name", ""),
            "period": inv.period_label, "period_start": inv.period_start.isoformat(),
            "period_end": inv.period_end.isoformat(), "currency": inv.currency,
            "tax_rate": plain(inv.tax_rate), "subtotal": money_text(inv.subtotal, inv.currency),
            "tax": money_text(inv.tax, inv.currency), "total": money_text(inv.total, inv.currency),
        }
        blank = dict.fromkeys(("line_no", "line_kind", "charge_key", "description", "quantity",
                               "unit", "amount_exact", "amount", "adjusts_number"), "")
        if not inv.lines:
            yield {**head, **blank}
        for line in inv.lines:
            yield {**head, **blank,
                   "line_no": str(line.line_no), "line_kind": line.kind,
                   "charge_key": line.charge_key, "description": line.description,
                   "quantity": plain(line.quantity), "unit": line.unit,
                   "amount_exact": plain(line.amount_exact),
                   "amount": money_text(line.amount, inv.currency),
                   "adjusts_number": line.adjusts.number if line.adjusts else ""}


def to_csv(invoices: Iterable[Invoice]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(csv_rows(invoices))
    return out.getvalue().encode()
