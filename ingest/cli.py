"""`aforo ingest serve` (the HTTP collector) and `aforo keys create|list|revoke`.

Registered with `aforo` by aforo/cli/ingest.py; kept here, inside the stage, so
it can be tested without importing every other stage's commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aforo.catalog import load_catalog
from ingest.config import load_ingest_config
from ingest.keys import ALL_TENANTS, GATEWAY_SOURCES, KeyStore, KeyStoreError


@click.group()
def ingest() -> None:
    """The ingestion API: usage events and gateway logs over HTTP into Kafka."""


@ingest.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="HTTP port (default 8088).")
@click.option("--workers", type=int, default=None,
              help="Processes serving the port, each with its own Kafka producer (default 1).")
@click.option("--syslog-port", type=int, default=None,
              help="UDP syslog port for nginx (default 5140; 0 turns it off).")
@click.option("--ingest-config", "config_path", type=click.Path(path_type=Path),
              envvar="AFORO_INGEST_CONFIG", default=None,
              help="YAML file of collector settings: limits, rate limits, timeouts.")
@click.option("--topic", default=None, help="Kafka topic (default: the usage_events topic).")
@click.option("--access-log/--no-access-log", default=None, help="Log every request.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_obj
def serve(obj, host: str | None, port: int | None, workers: int | None, syslog_port: int | None,  # type: ignore[no-untyped-def]
          config_path: Path | None, topic: str | None, access_log: bool | None,
          log_level: str) -> None:
    """Serve the collector until SIGTERM/SIGINT (then flush to Kafka and stop)."""
    from ingest.server import serve as run
    from ingest.server import syslog_port_taken

    settings = obj.get()
    config = load_ingest_config(config_path, host=host, port=port, syslog_port=syslog_port,
                                access_log=access_log, workers=workers)
    taken = syslog_port_taken(config)
    if taken:
        raise click.BadParameter(taken, param_hint="'--syslog-port'")
    raise SystemExit(run(settings, config, topic=topic, log_level=log_level))


@click.group()
def keys() -> None:
    """API keys of the ingestion API (stored hashed under the aforo home)."""


def _store(obj) -> KeyStore:  # type: ignore[no-untyped-def]
    return KeyStore.under(obj.get().home)


def _refused(exc: KeyStoreError) -> click.UsageError:
    """The store's refusal as click reports a bad option (exit 2), naming the option."""
    if exc.field is None:
        return click.UsageError(exc.problem)
    return click.BadParameter(exc.problem, param_hint=f"'--{exc.field}'")


@keys.command()
@click.option("--name", required=True,
              help="What the key is for (shown in lists and logs); one active key per name.")
@click.option("--tenant", "tenants", multiple=True,
              help="A customer of the catalog whose usage the key may write (repeatable; '*' for every tenant).")
@click.option("--gateway", "gateways", multiple=True, type=click.Choice(GATEWAY_SOURCES),
              help="A gateway whose logs the key may post (repeatable).")
@click.option("--rate", type=float, default=None,
              help="Events per second for this key (default: the collector's rate limit).")
@click.pass_obj
def create(obj, name: str, tenants: tuple[str, ...], gateways: tuple[str, ...],  # type: ignore[no-untyped-def]
           rate: float | None) -> None:
    """Create a key; its secret is printed once and never stored. Named tenants must be
    customers in the catalog (a misspelt one would let in usage nobody bills)."""
    customers = load_catalog(obj.get().catalog_dir).customers if set(tenants) - {ALL_TENANTS} else None
    try:
        key, secret = _store(obj).create(name, list(tenants), list(gateways), rate, customers)
    except KeyStoreError as exc:
        raise _refused(exc) from None
    click.echo(json.dumps({**key.describe(), "secret": secret}, indent=1))
    click.echo("The secret is shown only now: store it. Send it as "
               "`Authorization: Bearer <secret>`.", err=True)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_obj
def list_keys(obj, include_revoked: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """List keys (never their secrets)."""
    found = _store(obj).list(include_revoked=include_revoked)
    if as_json:
        for key in found:
            click.echo(json.dumps(key.describe()))
        return
    click.echo(f"{'id':<13} {'name':<20} {'tenants':<24} {'gateways':<16} {'rate/s':>8}  state")
    for key in found:
        state = f"revoked {key.revoked_at}" if key.revoked_at else f"active since {key.created_at}"
        rate = "-" if key.rate_per_s is None else f"{key.rate_per_s:g}"
        click.echo(f"{key.id:<13} {key.name[:20]:<20} {','.join(sorted(key.tenants)) or '-':<24} "
                   f"{','.join(sorted(key.gateways)) or '-':<16} {rate:>8}  {state}")
    sys.stdout.flush()


@keys.command()
@click.argument("key_id")
@click.pass_obj
def revoke(obj, key_id: str) -> None:  # type: ignore[no-untyped-def]
    """Revoke a key by id; a running collector refuses it within a couple of seconds."""
    try:
        key = _store(obj).revoke(key_id)
    except KeyStoreError as exc:
        raise _refused(exc) from None
    click.echo(f"revoked {key.id} ({key.name}) at {key.revoked_at}")


commands = [ingest, keys]
