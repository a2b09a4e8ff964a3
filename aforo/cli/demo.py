"""`aforo demo`: the pipeline end to end on embedded defaults.

Each step is the `aforo` command a user would type, run in this process, so the
demo shows exactly what the commands do. It is safe to run again: the same
traffic is deduplicated (the job resumes from its savepoint) and the close is
idempotent, so the second run bills nothing twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

DEMO_PERIOD = "2026-10"
DEMO_START = "2026-10-16T00:00:00Z"  # inside every demo customer's October period
SUMMARY_SQL = """
SELECT tenant_id, metric, SUM(event_count) AS events, SUM(quantity) AS quantity,
       ROUND(SUM(amount), 6) AS streamed_amount, ANY_VALUE(currency) AS currency
FROM line_items WHERE billed GROUP BY ALL ORDER BY tenant_id, metric
"""


@contextmanager
def _collector(ctx: click.Context) -> Iterator[str]:
    """`aforo ingest serve` on a free port, with an API key for every tenant in
    AFORO_API_KEY; its URL. Stopped (gracefully: the producer flushes) afterwards.
    An earlier run's key is revoked first: a name belongs to one active key."""
    from ingest.client import wait_listening
    from ingest.keys import ALL_TENANTS, KeyStore

    keys = KeyStore.under(ctx.obj.get().home)
    for earlier in keys.list():
        if earlier.name == "demo":
            keys.revoke(earlier.id)
    os.environ["AFORO_API_KEY"] = keys.create("demo", [ALL_TENANTS], [])[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ["--config", ctx.obj.path] if ctx.obj.path else []
    click.secho(f"$ aforo ingest serve --port {port} &", bold=True)
    server = subprocess.Popen([sys.executable, "-m", "aforo", *config, "ingest", "serve", "--port", str(port),
                               "--syslog-port", "0", "--log-level", "error"])
    try:
        if not wait_listening(port, server):
            raise click.ClickException("the collector did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


@click.command()
@click.option("--events", "-n", default=20_000, show_default=True,
              help="Messages the demo generates (aforo generate -n).")
@click.option("--via-collector", is_flag=True,
              help="Send the traffic through the HTTP collector (JSON batches) instead of straight to Kafka.")
@click.pass_context
def demo(ctx: click.Context, events: int, via_collector: bool) -> None:
    """Stack up, generate traffic, meter it, close October 2026 and render the invoices."""
    from aforo.cli import cli

    settings = ctx.obj.get()
    out_dir = settings.home / "invoices"

    def step(title: str, *args: str) -> None:
        click.secho(f"\n== {title}\n$ aforo {' '.join(args)}", bold=True)
        cli.main(args=list(args), prog_name="aforo", standalone_mode=False, obj=ctx.obj)

    step("1. the local stack", "stack", "up")
    traffic = ["generate", "-n", str(events), "--start", DEMO_START, "--hours", "96"]
    if via_collector:
        with _collector(ctx) as url:
            step("2. gateway traffic through the collector (duplicates, out-of-order, late, malformed)",
                 *traffic, "--collector", url)
    else:
        step("2. gateway traffic (duplicates, out-of-order, late, malformed)", *traffic)
    step("3. the metering job (to the topic's end, then a savepoint)", "job", "run", "--bounded")
    step("4. rated line items", "sql", SUMMARY_SQL)
    step("5. unbilled usage and dead letters", "leakage")
    step("6. the period close (October 2026, finalized)",
         "close", "--period", DEMO_PERIOD, "--finalize")
    step("7. the invoices", "invoices", "list", "--period", DEMO_PERIOD)
    click.secho("\n== 8. rendered invoices", bold=True)
    from invoicing.store import BillingStore

    with BillingStore.open(settings, write=False) as store:
        documents = store.documents(label=DEMO_PERIOD, status="final", lines=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number in sorted(d.number for d in documents if d.number):
        for fmt in ("html", "pdf"):
            path = out_dir / f"{number}.{fmt}"
            cli.main(args=["invoices", "render", number, "--format", fmt, "--out", str(path)],
                     prog_name="aforo", standalone_mode=False, obj=ctx.obj)
    click.echo("\nThe stack keeps running; `aforo stack down` stops it.")


commands = [demo]
