"""Rendering: the HTML invoice in a real headless Chromium, the PDF's text, the
exports for accounting systems, and white-label templates."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aforo.settings import Settings
from invoicing import Invoice, InvoicingConfig, Renderer, close_period, open_documents
from invoicing.config import load_invoicing_config
from tests.invoicing.conftest import DEC_3, invoke

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
# a 1x1 PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def finals(home: Settings, config: InvoicingConfig) -> dict[str, Invoice]:
    close_period(home, "2026-11", finalize=True, now=DEC_3, config=config)
    with open_documents(home) as store:
        return {d.tenant_id: d for d in store.documents(label="2026-11")}


def test_html_in_chromium_shows_the_numbers_and_never_runs_the_customers_markup(
        finals: dict[str, Invoice], config: InvoicingConfig, tmp_path: Path) -> None:
    globex = finals["globex"]
    assert globex.customer["name"].startswith("<script>")
    page = tmp_path / "globex.html"
    page.write_text(Renderer(config).html(globex))
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    # the name is text: escaped in the DOM, no script element anywhere
    assert "&lt;script&gt;alert('pwned')&lt;/script&gt; Globex &amp; Sons" in dom
    assert "<script" not in dom
    assert f'<td id="number">{globex.number}</td>' in dom
    assert f'<td id="total">${globex.total}</td>' in dom
    for part in globex.lines[0].breakdown:  # shown as the pricing library wrote them
        assert part.description in dom
    assert globex.lines[0].breakdown[0].key == "free-units"

    stark = finals["stark"]
    page = tmp_path / "stark.html"
    page.write_text(Renderer(config).html(stark))
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    assert f'<td id="subtotal">${stark.subtotal:,}</td>' in dom
    assert f'<td id="tax">${stark.tax:,}</td>' in dom and "Tax (8.875%)" in dom
    assert f'<td id="total">${stark.total:,}</td>' in dom
    for line in stark.lines:
        assert f"${line.amount:,}" in dom
    for line in stark.lines:
        for part in line.breakdown:
            assert part.description in dom
    assert stark.lines[0].breakdown[0].key == "tier-1-unit"
    chromium(tmp_path, page, f"--screenshot={tmp_path / 'stark.png'}", "--window-size=900,1300")
    assert (tmp_path / "stark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_holds_the_total(finals: dict[str, Invoice], config: InvoicingConfig,
                             tmp_path: Path) -> None:
    hooli = finals["hooli"]
    pdf = tmp_path / "hooli.pdf"
    pdf.write_bytes(Renderer(config).pdf(hooli))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert f"${hooli.total:,}" in text
    assert hooli.number is not None and hooli.number in text
    assert "Payment processing" in text and "Hooli" in text


def test_json_and_csv_carry_every_decimal_as_text(finals: dict[str, Invoice],
                                                  config: InvoicingConfig) -> None:
    stark = finals["stark"]
    renderer = Renderer(config)
    doc = json.loads(renderer.render(stark, "json"))
    assert doc["number"] == stark.number and doc["status"] == "final"
    assert doc["total"] == f"{stark.total}" and doc["tax_rate"] == "8.875"
    assert doc["customer"]["name"] == "Stark Industries"
    acme = finals["acme"]
    calls = json.loads(renderer.render(acme, "json"))["lines"][0]
    first = acme.lines[0].breakdown[0]
    assert calls["breakdown"][0] == {
        "key": "tier-1-unit", "description": first.description,
        "quantity": "10000", "unit_amount": "0.01", "amount": "100",
    }
    assert calls["amount"] == f"{acme.lines[0].amount}"
    assert calls["amount_exact"] == f"{acme.lines[0].amount_exact.normalize():f}"
    rows = list(csv.DictReader(io.StringIO(renderer.render(stark, "csv").decode())))
    assert [r["charge_key"] for r in rows] == ["api_calls", "bandwidth", "platform_fee"]
    assert {r["total"] for r in rows} == {f"{stark.total}"}
    assert sum(float(r["amount"]) for r in rows) == pytest.approx(float(stark.subtotal))


def test_an_issuer_brings_its_own_templates_logo_and_colours(
        home: Settings, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "wl").mkdir(parents=True)
    (templates / "wl-logo.png").write_bytes(PIXEL)
    (templates / "wl" / "invoice.css.j2").write_text(
        "/* white label */ body { color: {{ brand.colours.text }}; }\n")
    settings_file = tmp_path / "invoicing.yaml"
    settings_file.write_text(
        "default_issuer: wl\n"
        "templates_dir: templates\n"
        "issuers:\n"
        "  wl:\n"
        "    name: Widget Labs GmbH\n"
        "    address: \"Torstrasse 1\\n10119 Berlin\"\n"
        "    invoice_prefix: WL\n"
        "    credit_note_prefix: WLC\n"
        "    locale: de_DE\n"
        "    logo: wl-logo.png\n"
        "    colours: {primary: '#0a7d33', accent: '#eefaf1', text: '#101010'}\n")
    config = load_invoicing_config(settings_file)
    close_period(home, "2026-11", tenant="stark", finalize=True, now=DEC_3, config=config)
    with open_documents(home) as store:
        stark = store.find("stark/2026-11")
    assert stark.number == "WL-2026-0001" and stark.issuer_details["name"] == "Widget Labs GmbH"
    html = Renderer(config).html(stark)
    assert "/* white label */ body { color: #101010; }" in html
    assert "data:image/png;base64," in html and "Torstrasse 1<br>" in html
    assert f"{stark.total:,}".replace(",", "X").replace(".", ",").replace("X", ".") in html


@pytest.mark.parametrize(("template", "message"), [
    ("<p>{{ invoice.number </p>\n", "invoice.html.j2, line 1: unexpected '/'"),
    ("<p>\n{{ invoice.nope }}</p>\n", "invoice.html.j2, line 2: 'invoicing.documents.Invoice object'"
                                      " has no attribute 'nope'"),
])
def test_a_template_that_fails_is_named_with_its_line(
        finals: dict[str, Invoice], home: Settings, tmp_path: Path, template: str,
        message: str) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "invoice.html.j2").write_text(template)
    settings_file = tmp_path / "invoicing.yaml"
    settings_file.write_text("templates_dir: templates\n")
    for fmt in ("html", "pdf"):
        result = invoke(home, "invoices", ["render", finals["acme"].number or "", "--format", fmt,
                                           "--invoicing-config", str(settings_file)])
        assert result.exit_code == 2, result.output
        assert result.output == (f"error: {finals['acme'].number}: template"
                                 f" {tmp_path / 'templates' / message}\n")
