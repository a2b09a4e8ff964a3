"""`aforo close`, `aforo invoices`, `aforo sql` through their runner, and two real
`aforo close` processes at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aforo.query import run_query
from aforo.settings import Settings
from invoicing.store import database_path
from tests.invoicing.conftest import DEC_3, aforo_env, invoke

AFORO = str(Path(sys.executable).with_name("aforo"))  # the venv's entry point


def test_close_prints_every_document_and_json_on_request(home: Settings) -> None:
    result = invoke(home, "close", ["--period", "2026-11", "--now", DEC_3.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("close 2026-11 (draft): run 1, catalog ")
    assert any(line.split()[:5] == ["acme", "2026-11-01", "00:00", "..", "2026-12-01"]
               for line in lines)
    assert "documents: 8 created" in result.output
    assert "reconciliation: streamed charges and archive agree with the close" in result.output

    result = invoke(home, "close", ["--period", "2026-11", "--finalize", "--json",
                                    "--now", DEC_3.isoformat()])
    report = json.loads(result.output)[0]
    actions = {d["tenant_id"]: (d["action"], d["number"]) for d in report["documents"]}
    assert actions["acme"] == ("finalized", "INV-2026-0001")
    assert actions["initech"] == ("unchanged", None)
    assert report["notes"] == ["initech: period ends 2026-12-15 05:00Z, left as a draft"]


def test_show_sql_prints_the_generated_metric_sql(home: Settings) -> None:
    result = invoke(home, "close", ["--show-sql"])
    assert result.exit_code == 0
    assert "-- metric_events (generated from the catalog)" in result.output
    assert "= 'api_calls'" in result.output and "= 'api_call'" in result.output


def test_invoices_list_show_render(home: Settings, tmp_path: Path) -> None:
    invoke(home, "close", ["--period", "2026-11", "--finalize", "--now", DEC_3.isoformat()])
    listed = invoke(home, "invoices", ["list", "--period", "2026-11"])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].split()[:4] == ["number", "id", "kind", "status"]
    assert "INV-2026-0005  stark/2026-11" in listed.output
    assert "initech/2026-11" in listed.output and len(listed.output.splitlines()) == 9

    shown = invoke(home, "invoices", ["show", "INV-2026-0001"])
    assert "Invoice INV-2026-0001  [final]  id acme/2026-11" in shown.output
    assert "Tier 1 (up to 10,000): 10,000 x 0.01" in shown.output

    for fmt in ("json", "csv", "html"):
        out = tmp_path / f"inv.{fmt}"
        rendered = invoke(home, "invoices", ["render", "INV-2026-0001", "--format", fmt,
                                             "--out", str(out)])
        assert rendered.exit_code == 0, rendered.output
        assert out.stat().st_size > 500
    assert json.loads((tmp_path / "inv.json").read_text())["number"] == "INV-2026-0001"
    stdout = invoke(home, "invoices", ["render", "acme/2026-11", "--format", "csv"])
    assert stdout.output.startswith("number,kind,status,issue_date")

    missing = invoke(home, "invoices", ["show", "INV-2031-0001"])
    assert missing.exit_code == 2 and "no invoice or credit note 'INV-2031-0001'" in missing.output

    # an --out that cannot be written is named, not a traceback
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file" / "inv.html", tmp_path):  # under a file; a folder
        unwritable = invoke(home, "invoices", ["render", "INV-2026-0001", "--out", str(out)])
        assert unwritable.exit_code == 2, unwritable.output
        assert unwritable.output.startswith(f"error: --out {out}: ")


def test_sql_views_over_parquet_and_the_billing_database(home: Settings) -> None:
    invoke(home, "close", ["--period", "2026-11", "--finalize", "--now", DEC_3.isoformat()])
    query = ("SELECT i.number, sum(l.amount) AS lines, any_value(i.subtotal) AS subtotal"
             " FROM invoices i JOIN invoice_lines l USING (invoice_id)"
             " WHERE i.status = 'final' GROUP BY i.number ORDER BY i.number")
    result = invoke(home, "sql", [query, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.splitlines()[1:]]
    assert len(rows) == 7 and all(r[1] == r[2] for r in rows)

    counted = run_query(home, "SELECT count(*) FROM events WHERE event_date = '2026-11-03'")
    assert counted.rows[0][0] > 1000
    streamed = run_query(home, "SELECT count(DISTINCT period) FROM line_items")
    assert streamed.rows == [(6,)]  # the 1st and (initech) the 15th of Oct, Nov and Dec
    late = run_query(home, "SELECT count(*) FROM late_events")
    assert late.rows[0][0] > 0
    runs = run_query(home, "SELECT status, finalized FROM close_runs")
    assert runs.rows == [("ok", 7)]


def test_sql_reads_only_committed_files(home: Settings) -> None:
    # every partition holds a `.part-*.inprogress` file that is not Parquet at all
    assert list((home.data_dir / "events").glob("*/.part-*"))
    result = invoke(home, "sql", ["SELECT count(*) AS n FROM events", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["n"] > 100_000


@pytest.mark.parametrize(("query", "message"), [
    ("", "error: empty query: give one SQL statement"),
    (" ;\n", "error: empty query: give one SQL statement"),
    ("SELECT 1; SELECT 2", "error: 2 statements: aforo sql runs one query at a time"),
])
def test_sql_refuses_an_empty_query_and_several_statements(home: Settings, query: str,
                                                           message: str) -> None:
    result = invoke(home, "sql", [query])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message) and result.stdout == ""
    # a ';' inside a literal, or a trailing one, is still one statement
    one = invoke(home, "sql", ["SELECT ';' AS s;", "--format", "csv"])
    assert (one.exit_code, one.output) == (0, "s\n;\n")


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "november"])
def test_invoices_list_refuses_a_period_as_close_does(home: Settings, period: str) -> None:
    closed = invoke(home, "close", ["--period", period])
    listed = invoke(home, "invoices", ["list", "--period", period])
    assert closed.exit_code == listed.exit_code == 2
    assert listed.stderr == closed.stderr and listed.stderr.startswith(f"error: period {period!r}: ")
    assert listed.stdout == ""


def test_dead_letters_are_unknown_not_none_when_kafka_is_down(home: Settings) -> None:
    down = home.model_copy(update={"kafka": home.kafka.model_copy(update={"port": 1})})
    result = invoke(down, "sql", ["SELECT count(*) FROM dead_letters"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: dead_letters: Kafka at 127.0.0.1:1 could not be read")
    assert "the dead letters (aforo.dead-letters) are unknown, not none" in result.stderr
    # a query that does not name it never waits for Kafka
    assert run_query(down, "SELECT 1").rows == [(1,)]

    # the leakage report still lists unbilled usage, and fails on the dead letters it could not read
    report = invoke(down, "leakage", ["--json"])
    assert report.exit_code == 1
    printed = json.loads(report.stdout)
    assert printed["leaks"] and printed["dead_letters"] is None
    assert printed["dead_letters_error"].startswith("dead_letters: Kafka at 127.0.0.1:1")
    assert report.stderr == f"error: {printed['dead_letters_error']}\n"
    skipped = invoke(down, "leakage", ["--no-dead-letters"])
    assert skipped.exit_code == 0 and "dead letters" not in skipped.output


def test_two_closes_at_once_cannot_both_finalize(home: Settings) -> None:
    env = aforo_env(home)
    args = [AFORO, "close", "--period", "2026-11", "--finalize", "--now", DEC_3.isoformat(),
            "--json"]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    reports = [json.loads(out)[0] for out, _ in outputs]
    finalized = [[d["number"] for d in r["documents"] if d["action"] == "finalized"]
                 for r in reports]
    assert sorted(len(f) for f in finalized) == [0, 7]  # one finalized, the other found them final
    con = duckdb.connect(str(database_path(home)), read_only=True)
    try:
        numbers = [r[0] for r in con.execute(
            "SELECT number FROM invoices WHERE number IS NOT NULL ORDER BY number").fetchall()]
        runs = con.execute("SELECT count(*), sum(finalized) FROM close_runs").fetchone()
    finally:
        con.close()
    assert numbers == [f"INV-2026-{n:04d}" for n in range(1, 8)]
    assert runs == (2, 7)
