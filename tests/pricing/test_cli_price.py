"""`aforo price quote|simulate` through click's runner, and one real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from aforo.cli.pricing import Quoter, price
from aforo.pricing import round_money

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "catalog"
GRAD = json.dumps({"model": "graduated", "tiers": [
    {"up_to": 10000, "unit_amount": "0.01"}, {"up_to": None, "unit_amount": "0.005"},
]})


class _Settings:
    def get(self) -> SimpleNamespace:
        return SimpleNamespace(catalog_dir=CATALOG)


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(price, list(args), input=stdin, obj=_Settings())


def test_quote_prints_the_exact_amount_alone() -> None:
    result = run("quote", "--price", GRAD, "--quantity", "47200")
    assert result.exit_code == 0, result.output
    assert result.stdout == "286\n"


def test_quote_explain_prints_the_breakdown() -> None:
    result = run("quote", "--price", GRAD, "--quantity", "47200", "--explain")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "tier-1-unit  Tier 1 (up to 10,000): 10,000 x 0.01   100",
        "tier-2-unit  Tier 2 (above 10,000): 37,200 x 0.005  186",
        "amount                                              286",
    ]


def test_quote_values_for_percentage() -> None:
    pct = '{"model": "percentage", "percent": "2.9", "fixed_amount": "0.30"}'
    result = run("quote", "--price", pct, "--values", "10,80")
    assert result.stdout == "3.21\n"


def test_quote_before_gives_the_increment() -> None:
    result = run("quote", "--price", GRAD, "--quantity", "2000", "--before", "9000")
    assert result.stdout == "15\n"


def test_quote_price_from_a_yaml_file(tmp_path: Path) -> None:
    file = tmp_path / "price.yaml"
    file.write_text("model: per_unit\nunit_amount: 0.0005\n")
    result = run("quote", "--price", f"@{file}", "--quantity", "30")
    assert result.stdout == "0.015\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--price", '{"model": "per_unit"}', "--quantity", "1"], "price.unit_amount: required"),
    (["--price", "{nope", "--quantity", "1"], "not valid JSON/YAML"),
    (["--price", '{"model": "per_unit", "unit_amount": "1", "unit_amount": "2"}', "--quantity", "1"],
     "not valid JSON/YAML: duplicate key 'unit_amount'"),
    (["--price", '{"model": "graduated", "tiers": [{"up_to": 10, "unit_amount": 1, "up_to": 5}]}',
      "--quantity", "1"], "not valid JSON/YAML: duplicate key 'up_to'"),
    (["--price", "@/nonexistent/p.yaml", "--quantity", "1"], "cannot read /nonexistent/p.yaml"),
    (["--price", GRAD, "--quantity", "-3"], "quantity: must not be negative (got -3)"),
    (["--quantity", "3"], "--price is required"),
    (["--price", GRAD, "--quantity", "1", "--values", "1"], "not both"),
    (["--price", '{"model": "percentage", "percent": "1"}', "--quantity", "1"],
     "a percentage price rates transaction values: give --values"),
    (["--price", GRAD, "--values", "1,2"], "a graduated price rates a quantity: give --quantity"),
    (["--price", GRAD, "--quantity", "5", "--before", "2", "--explain"],
     "--explain shows a whole rating: leave out --before"),
])
def test_quote_errors_exit_2_with_the_reason(args, message) -> None:
    result = run("quote", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_json_lines_answer_every_line_in_order() -> None:
    lines = [
        json.dumps({"price": json.loads(GRAD), "quantity": "47200"}),
        '{"price": {"model": "per_unit", "unit_amount": 0.10}, "quantity": 12}',
        "this is not json",
        json.dumps({"price": {"model": "percentage", "percent": "10", "free_transactions": 1},
                    "values": ["10", "80"]}),
        json.dumps({"price": {"model": "per_unit"}, "quantity": "1"}),
        json.dumps({"price": json.loads(GRAD), "quantity": "2000", "before": "9000"}),
        "",
        json.dumps({"price": json.loads(GRAD), "quantity": "-1"}),
        json.dumps({"price": json.loads(GRAD), "qty": "1"}),
        json.dumps({"price": json.loads(GRAD), "quantity": "1"}),
        json.dumps({"price": {"model": "percentage", "percent": "10"}, "values": ["10"],
                    "before": "100"}),
    ]
    result = run("quote", stdin="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"amount": "286"},
        {"amount": "1.2"},
        {"error": "line 3: not valid JSON: Expecting value: line 1 column 1 (char 0)"},
        {"amount": "8"},
        {"error": "line 5: price.unit_amount: required"},
        {"amount": "15"},
        {"error": "line 7: empty line: expected a JSON object"},
        {"error": "line 8: quantity: must not be negative (got -1)"},
        {"error": "line 9: qty: unknown field (allowed: before, price, quantity, values)"},
        {"amount": "0.01"},
        {"error": "line 11: before: works with quantity only (values are rated whole)"},
    ]


def test_json_lines_may_use_the_price_option_and_omit_the_last_newline() -> None:
    result = run("quote", "--price", GRAD, stdin='{"quantity": "10001"}\n{"quantity": "1"}')
    assert result.stdout.splitlines() == ['{"amount": "100.005"}', '{"amount": "0.01"}']


def test_quoter_caches_parsed_prices_by_text() -> None:
    quoter = Quoter()
    line = json.dumps({"price": json.loads(GRAD), "quantity": "1"})
    assert quoter.answer(line) == quoter.answer(line) == '{"amount": "0.01"}'
    assert len(quoter._prices) == 1


def test_real_subprocess_json_lines_with_a_bad_line() -> None:
    stdin = "\n".join([
        json.dumps({"price": json.loads(GRAD), "quantity": "21"}),
        ('{"price": {"model": "graduated", "tiers": [{"up_to": 5, "unit_amount": 1}]},'
        ' "quantity": "1"}'),
        json.dumps({"price": {"model": "volume", "tiers": [
            {"up_to": 5, "unit_amount": "7"}, {"up_to": 10, "unit_amount": "6.5"},
            {"up_to": None, "unit_amount": "6"}]}, "quantity": 6}),
    ]) + "\n"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "aforo"), "price", "quote"], input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"amount": "0.21"},
        {"error": "line 2: price.tiers[0].up_to: must be null: the last tier is open-ended"
                  " (got 5)"},
        {"amount": "39"},
    ]


def test_simulate_rounds_each_charge_once_and_totals_the_rounded_charges() -> None:
    result = run("simulate", "--plan", "growth", "--at", "2026-11-15T00:00:00Z", "--usage",
                 "api_calls=47200,bandwidth_bytes=123456789012,compute_ms=1000000", "--json")
    assert result.exit_code == 0, result.output
    invoice = json.loads(result.stdout)
    assert (invoice["plan"], invoice["version"], invoice["currency"]) == ("growth", 1, "USD")
    assert [(c["charge"], c["amount"], c["rounded"]) for c in invoice["charges"]] == [
        ("api_calls", "286", "286.00"),
        ("bandwidth", "11.11111101108", "11.11"),
        ("compute", "2.1", "2.10"),
        ("platform_fee", "49", "49.00"),
    ]
    assert [(x["key"], x["quantity"], x["unit_amount"], x["amount"])
            for x in invoice["charges"][0]["lines"]] == [
        ("tier-1-unit", "10000", "0.01", "100"), ("tier-2-unit", "37200", "0.005", "186"),
    ]
    assert all("rounded" not in x for c in invoice["charges"] for x in c["lines"])
    assert invoice["exact_total"] == "348.21111101108"
    assert invoice["total"] == "348.21"


HALFCENT = """\
key: halfcent
name: Half cent
currency: USD
billing_period: {interval: monthly, anchor_day: 1}
versions:
  - version: 1
    effective_from: 2026-01-01
    charges:
      - key: api_calls
        name: API calls
        metric: api_calls
        price: {model: graduated, tiers: [{up_to: "1", unit_amount: "0.005"}, {up_to: null, unit_amount: "0.0075"}]}
"""


@pytest.fixture
def halfcent_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG, root)
    (root / "plans" / "halfcent.yaml").write_text(HALFCENT)
    return root


def test_simulate_bills_what_the_invoice_bills_not_rounded_tiers(halfcent_catalog: Path) -> None:
    # 0.005 + 2 x 0.0075 = 0.02 exactly: the invoice bills 0.02. Rounding each tier
    # line (0.01 + 0.02) would have made it 0.03.
    args = ("simulate", "--catalog", str(halfcent_catalog), "--plan", "halfcent",
            "--usage", "api_calls=3", "--at", "2026-11-15T00:00:00Z")
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    invoice = json.loads(result.stdout)
    assert (invoice["exact_total"], invoice["total"]) == ("0.02", "0.02")
    [charge] = invoice["charges"]
    assert (charge["charge"], charge["amount"], charge["rounded"]) == ("api_calls", "0.02", "0.02")
    assert [x["amount"] for x in charge["lines"]] == ["0.005", "0.015"]
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[1:] == [
        "charge     line         description                   exact  rounded",
        "api_calls               API calls                      0.02     0.02",
        "           tier-1-unit  Tier 1 (up to 1): 1 x 0.005   0.005",
        "           tier-2-unit  Tier 2 (above 1): 2 x 0.0075  0.015",
        "total                                                  0.02     0.02",
    ]


@pytest.mark.parametrize(("usage", "exact", "total"), [
    ("api_calls=1", "0.005", "0.01"),   # a half cent rounds up, once
    ("api_calls=2", "0.0125", "0.01"),  # not 0.01 + 0.01
    ("api_calls=4", "0.0275", "0.03"),  # not 0.01 + 0.03
])
def test_simulate_total_is_the_invoice_rounding_of_each_charge(
        halfcent_catalog: Path, usage: str, exact: str, total: str) -> None:
    result = run("simulate", "--catalog", str(halfcent_catalog), "--plan", "halfcent",
                 "--usage", usage, "--at", "2026-11-15T00:00:00Z", "--json")
    invoice = json.loads(result.stdout)
    assert invoice["exact_total"] == exact
    assert invoice["total"] == total == f"{round_money(Decimal(exact), 'USD'):f}"


def test_simulate_uses_the_version_in_effect() -> None:
    usage = "bandwidth_bytes=1000000000"
    before = run("simulate", "--plan", "growth", "--at", "2026-11-30T23:00:00Z", "--usage",
                 usage, "--json")
    after = run("simulate", "--plan", "growth", "--at", "2026-12-01T00:00:00Z", "--usage",
                usage, "--json")
    bandwidth = [next(c["amount"] for c in json.loads(r.stdout)["charges"]
                      if c["charge"] == "bandwidth") for r in (before, after)]
    assert bandwidth == ["0.09", "0.08"]


def test_simulate_percentage_values_and_text_output() -> None:
    result = run("simulate", "--plan", "payments", "--at", "2026-11-15T00:00:00Z",
                 "--usage", "payment_value=100+250+1000")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("plan payments v1 (USD) at 2026-11-15T00:00:00+00:00, catalog ")
    assert lines[2].split() == ["payment_fees", "Payment", "processing", "40.05", "40.05"]
    assert lines[3].split()[0] == "percentage" and lines[3].split()[-1] == "39.15"
    assert lines[-1].split() == ["total", "40.05", "40.05"]


@pytest.mark.parametrize(("args", "message"), [
    (["--plan", "gold"], "no plan 'gold'"),
    (["--plan", "growth", "--usage", "calls=1"], "unknown metric 'calls'"),
    (["--plan", "growth", "--usage", "api_calls"], "expected metric=quantity"),
    (["--plan", "growth", "--usage", "api_calls=-1"], "api_calls: must not be negative"),
    (["--plan", "growth", "--at", "2020-01-01T00:00:00Z"], "has no version in effect"),
    (["--plan", "growth", "--at", "yesterday"], "not an ISO 8601 time"),
    (["--plan", "growth", "--at", "0001-01-01T00:00:00+01:00"],
     "Invalid value for --at: out of range in UTC: '0001-01-01T00:00:00+01:00'"),
    # each charge rates exactly (2.1E+144 and 0), their sum 2.1E+144 + 49 would be rounded
    (["--plan", "growth", "--usage", "compute_ms=1e150", "--at", "2026-11-15T00:00:00Z"],
     "total: the charges (api_calls, bandwidth, compute, platform_fee) cannot be added up"
     " exactly in 60 significant digits"),
])
def test_simulate_errors(args, message) -> None:
    result = run("simulate", *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("line", "answer"), [
    ('{"price": P, "quantity": "5"}', {"amount": "0.05"}),
    ('{"price": P ,  "quantity": 7}', {"amount": "0.07"}),
    ('{"quantity": 5, "price": P}', {"amount": "0.05"}),
    ('{"price": P, "quantity": 5, "price": {"model": "flat", "amount": "1"}}', {"amount": "1"}),
    ('{"price": P,}', "the JSON error of the whole line"),
    ('{"price": P}', {"error": "line 2: give quantity or values (one of them)"}),
    ('{"price": P, "quantity": "5"', "the JSON error of the whole line"),
])
def test_a_repeated_price_is_decoded_once_and_answers_stay_exact(line, answer) -> None:
    price = '{"model": "per_unit", "unit_amount": "0.01"}'
    quoter = Quoter()
    assert quoter.answer(f'{{"price": {price}, "quantity": "1"}}', 1) == '{"amount": "0.01"}'
    text = line.replace("P", price)
    if answer == "the JSON error of the whole line":  # not the error of a shorter rest
        with pytest.raises(ValueError) as info:
            json.loads(text)
        answer = {"error": f"line 2: not valid JSON: {info.value}"}
    assert json.loads(quoter.answer(text, 2)) == answer
